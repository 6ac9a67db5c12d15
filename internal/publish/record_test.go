package publish_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/publish"
)

// wantImage is the SDK form of every attribute value kind, nested.
func wantImage() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"s":     &types.AttributeValueMemberS{Value: "héllo"},
		"empty": &types.AttributeValueMemberS{Value: ""},
		"n":     &types.AttributeValueMemberN{Value: "-12.5e3"},
		"b":     &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 0xff}},
		"t":     &types.AttributeValueMemberBOOL{Value: true},
		"f":     &types.AttributeValueMemberBOOL{Value: false},
		"null":  &types.AttributeValueMemberNULL{Value: true},
		"ss":    &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":    &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":    &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "x"},
			&types.AttributeValueMemberN{Value: "1"},
			&types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberNULL{Value: true}}},
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberB{Value: []byte("v")}}},
		}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"deep": &types.AttributeValueMemberSS{Value: []string{"z"}},
				"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberBOOL{Value: true}}},
			}},
			"n": &types.AttributeValueMemberN{Value: "0"},
		}},
		"emptyMap":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		"emptyList": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
	}
}

// lambdaImage is wantImage built with aws-lambda-go's constructors.
func lambdaImage() map[string]awsevents.DynamoDBAttributeValue {
	return map[string]awsevents.DynamoDBAttributeValue{
		"s":     awsevents.NewStringAttribute("héllo"),
		"empty": awsevents.NewStringAttribute(""),
		"n":     awsevents.NewNumberAttribute("-12.5e3"),
		"b":     awsevents.NewBinaryAttribute([]byte{0, 1, 2, 0xff}),
		"t":     awsevents.NewBooleanAttribute(true),
		"f":     awsevents.NewBooleanAttribute(false),
		"null":  awsevents.NewNullAttribute(),
		"ss":    awsevents.NewStringSetAttribute([]string{"a", "b"}),
		"ns":    awsevents.NewNumberSetAttribute([]string{"1", "2.5"}),
		"bs":    awsevents.NewBinarySetAttribute([][]byte{{1}, {2, 3}}),
		"l": awsevents.NewListAttribute([]awsevents.DynamoDBAttributeValue{
			awsevents.NewStringAttribute("x"),
			awsevents.NewNumberAttribute("1"),
			awsevents.NewListAttribute([]awsevents.DynamoDBAttributeValue{awsevents.NewNullAttribute()}),
			awsevents.NewMapAttribute(map[string]awsevents.DynamoDBAttributeValue{"k": awsevents.NewBinaryAttribute([]byte("v"))}),
		}),
		"m": awsevents.NewMapAttribute(map[string]awsevents.DynamoDBAttributeValue{
			"inner": awsevents.NewMapAttribute(map[string]awsevents.DynamoDBAttributeValue{
				"deep": awsevents.NewStringSetAttribute([]string{"z"}),
				"list": awsevents.NewListAttribute([]awsevents.DynamoDBAttributeValue{awsevents.NewBooleanAttribute(true)}),
			}),
			"n": awsevents.NewNumberAttribute("0"),
		}),
		"emptyMap":  awsevents.NewMapAttribute(map[string]awsevents.DynamoDBAttributeValue{}),
		"emptyList": awsevents.NewListAttribute([]awsevents.DynamoDBAttributeValue{}),
	}
}

// streamImage is wantImage in the dynamodbstreams types.
func streamImage() map[string]stypes.AttributeValue {
	return map[string]stypes.AttributeValue{
		"s":     &stypes.AttributeValueMemberS{Value: "héllo"},
		"empty": &stypes.AttributeValueMemberS{Value: ""},
		"n":     &stypes.AttributeValueMemberN{Value: "-12.5e3"},
		"b":     &stypes.AttributeValueMemberB{Value: []byte{0, 1, 2, 0xff}},
		"t":     &stypes.AttributeValueMemberBOOL{Value: true},
		"f":     &stypes.AttributeValueMemberBOOL{Value: false},
		"null":  &stypes.AttributeValueMemberNULL{Value: true},
		"ss":    &stypes.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":    &stypes.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":    &stypes.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"l": &stypes.AttributeValueMemberL{Value: []stypes.AttributeValue{
			&stypes.AttributeValueMemberS{Value: "x"},
			&stypes.AttributeValueMemberN{Value: "1"},
			&stypes.AttributeValueMemberL{Value: []stypes.AttributeValue{&stypes.AttributeValueMemberNULL{Value: true}}},
			&stypes.AttributeValueMemberM{Value: map[string]stypes.AttributeValue{"k": &stypes.AttributeValueMemberB{Value: []byte("v")}}},
		}},
		"m": &stypes.AttributeValueMemberM{Value: map[string]stypes.AttributeValue{
			"inner": &stypes.AttributeValueMemberM{Value: map[string]stypes.AttributeValue{
				"deep": &stypes.AttributeValueMemberSS{Value: []string{"z"}},
				"list": &stypes.AttributeValueMemberL{Value: []stypes.AttributeValue{&stypes.AttributeValueMemberBOOL{Value: true}}},
			}},
			"n": &stypes.AttributeValueMemberN{Value: "0"},
		}},
		"emptyMap":  &stypes.AttributeValueMemberM{Value: map[string]stypes.AttributeValue{}},
		"emptyList": &stypes.AttributeValueMemberL{Value: []stypes.AttributeValue{}},
	}
}

func checkImage(t *testing.T, got map[string]types.AttributeValue) {
	t.Helper()
	want := wantImage()
	if len(got) != len(want) {
		t.Errorf("%d attributes, want %d", len(got), len(want))
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
}

func TestLambdaImage(t *testing.T) {
	got, err := publish.LambdaImage(lambdaImage())
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, got)
	if img, err := publish.LambdaImage(nil); img != nil || err != nil {
		t.Errorf("LambdaImage(nil) = %v, %v", img, err)
	}
}

// The event as Lambda sends it: DynamoDB JSON, binaries in base64.
const lambdaEventJSON = `{"Records":[{
  "eventID":"c4ca4238a0b923820dcc509a6f75849b","eventName":"MODIFY","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
  "eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/outdial/stream/2024-01-01T00:00:00.000",
  "dynamodb":{
    "ApproximateCreationDateTime":1700000000,
    "Keys":{"PK":{"S":"OUTDIAL#x"},"SK":{"S":"#HEAD"}},
    "OldImage":{"s":{"S":"old"}},
    "NewImage":{
      "s":{"S":"héllo"},"empty":{"S":""},"n":{"N":"-12.5e3"},"b":{"B":"AAEC/w=="},"t":{"BOOL":true},"f":{"BOOL":false},"null":{"NULL":true},
      "ss":{"SS":["a","b"]},"ns":{"NS":["1","2.5"]},"bs":{"BS":["AQ==","AgM="]},
      "l":{"L":[{"S":"x"},{"N":"1"},{"L":[{"NULL":true}]},{"M":{"k":{"B":"dg=="}}}]},
      "m":{"M":{"inner":{"M":{"deep":{"SS":["z"]},"list":{"L":[{"BOOL":true}]}}},"n":{"N":"0"}}},
      "emptyMap":{"M":{}},"emptyList":{"L":[]}
    },
    "SequenceNumber":"111","SizeBytes":26,"StreamViewType":"NEW_AND_OLD_IMAGES"}},
 {"eventID":"2","eventName":"INSERT","dynamodb":{"NewImage":{"s":{"S":"x"}},"SequenceNumber":"112"}}]}`

func TestFromLambda(t *testing.T) {
	var ev awsevents.DynamoDBEvent
	if err := json.Unmarshal([]byte(lambdaEventJSON), &ev); err != nil {
		t.Fatal(err)
	}
	r, err := publish.FromLambda(ev.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID != "c4ca4238a0b923820dcc509a6f75849b" || r.Op != "MODIFY" || r.SequenceNumber != "111" || !r.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("record = %+v", r)
	}
	checkImage(t, r.New)
	if !reflect.DeepEqual(r.Old, map[string]types.AttributeValue{"s": &types.AttributeValueMemberS{Value: "old"}}) {
		t.Errorf("old image = %#v", r.Old)
	}
	r, err = publish.FromLambda(ev.Records[1])
	if err != nil {
		t.Fatal(err)
	}
	if r.Op != "INSERT" || r.Old != nil || r.New == nil || !r.Created.IsZero() {
		t.Errorf("INSERT record = %+v", r)
	}
}

// TestStreamRecords: records of the dynamodbstreams API, as the local
// runner hands them to publish-events (localrun.LambdaDynamoDBEvent), come
// out of FromLambda with every attribute value kind intact.
func TestStreamRecords(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ev, err := localrun.LambdaDynamoDBEvent("arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x", []stypes.Record{
		{EventID: aws.String("e1"), EventName: stypes.OperationTypeModify, Dynamodb: &stypes.StreamRecord{
			ApproximateCreationDateTime: &at, SequenceNumber: aws.String("42"),
			OldImage: map[string]stypes.AttributeValue{"s": &stypes.AttributeValueMemberS{Value: "old"}},
			NewImage: streamImage(),
		}},
		{EventID: aws.String("e2"), EventName: stypes.OperationTypeRemove, Dynamodb: &stypes.StreamRecord{
			SequenceNumber: aws.String("43"), OldImage: map[string]stypes.AttributeValue{"s": &stypes.AttributeValueMemberS{Value: "x"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := publish.FromLambda(ev.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID != "e1" || r.Op != "MODIFY" || r.SequenceNumber != "42" || !r.Created.Equal(at) {
		t.Errorf("record = %+v", r)
	}
	checkImage(t, r.New)
	if !reflect.DeepEqual(r.Old, map[string]types.AttributeValue{"s": &types.AttributeValueMemberS{Value: "old"}}) {
		t.Errorf("old image = %#v", r.Old)
	}
	r, err = publish.FromLambda(ev.Records[1])
	if err != nil || r.Op != "REMOVE" || r.New != nil || r.Old == nil || !r.Created.IsZero() {
		t.Errorf("REMOVE record = %+v, %v", r, err)
	}
}
