package publish

import (
	"fmt"
	"slices"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Record is one stream record in the SDK's DynamoDB types, as a Lambda
// DynamoDB event brings it (FromLambda; the local runner polls the
// dynamodbstreams API and hands the function the same event,
// localrun.LambdaDynamoDBEvent).
type Record struct {
	EventID string // unique per record; event ids are made from it
	Op      string // INSERT, MODIFY or REMOVE
	Old     map[string]types.AttributeValue
	New     map[string]types.AttributeValue
	// SequenceNumber identifies the record in a batch item failure.
	SequenceNumber string
	// Created is the record's approximate creation time (to the second;
	// zero when unknown): the events' tm.
	Created time.Time
}

// FromLambda converts a record of a Lambda DynamoDB event.
func FromLambda(r awsevents.DynamoDBEventRecord) (Record, error) {
	out := Record{EventID: r.EventID, Op: r.EventName, SequenceNumber: r.Change.SequenceNumber, Created: r.Change.ApproximateCreationDateTime.Time}
	var err error
	if out.Old, err = LambdaImage(r.Change.OldImage); err != nil {
		return out, fmt.Errorf("record %s: old image: %w", r.EventID, err)
	}
	if out.New, err = LambdaImage(r.Change.NewImage); err != nil {
		return out, fmt.Errorf("record %s: new image: %w", r.EventID, err)
	}
	return out, nil
}

// LambdaImage converts an item image of a Lambda DynamoDB event (nil
// stays nil).
func LambdaImage(img map[string]awsevents.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	if img == nil {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(img))
	for k, v := range img {
		av, err := LambdaAV(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

// LambdaAV converts one attribute value of a Lambda DynamoDB event.
func LambdaAV(v awsevents.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case awsevents.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case awsevents.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case awsevents.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: slices.Clone(v.Binary())}, nil
	case awsevents.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case awsevents.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case awsevents.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: slices.Clone(v.StringSet())}, nil
	case awsevents.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: slices.Clone(v.NumberSet())}, nil
	case awsevents.DataTypeBinarySet:
		bs := make([][]byte, len(v.BinarySet()))
		for i, b := range v.BinarySet() {
			bs[i] = slices.Clone(b)
		}
		return &types.AttributeValueMemberBS{Value: bs}, nil
	case awsevents.DataTypeList:
		l := make([]types.AttributeValue, len(v.List()))
		for i, e := range v.List() {
			av, err := LambdaAV(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = av
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case awsevents.DataTypeMap:
		m, err := LambdaImage(v.Map())
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]types.AttributeValue{}
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unknown attribute value type %d", v.DataType())
}
