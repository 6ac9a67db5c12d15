package ddbdouble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// attrValue is one DynamoDB AttributeValue in the JSON wire format, for
// example {"S":"abc"} or {"L":[{"N":"1"}]}.
type attrValue map[string]json.RawMessage

// item is an item (or a key) in the wire format.
type item map[string]attrValue

// canon returns a key value in a canonical text form ("S:abc", "N:12").
func (v attrValue) canon() string {
	for t, raw := range v {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return t + ":" + string(raw)
		}
		return t + ":" + s
	}
	return ""
}

// size returns the size of an item as DynamoDB counts it for capacity:
// the UTF-8 lengths of the attribute names plus the sizes of the values
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
func (it item) size() int {
	n := 0
	for name, v := range it {
		n += len(name) + v.size()
	}
	return n
}

func (v attrValue) size() int {
	for t, raw := range v {
		switch t {
		case "S":
			var s string
			_ = json.Unmarshal(raw, &s)
			return len(s)
		case "N":
			var s string
			_ = json.Unmarshal(raw, &s)
			return numberSize(s)
		case "B":
			var b []byte
			_ = json.Unmarshal(raw, &b)
			return len(b)
		case "BOOL", "NULL":
			return 1
		case "L":
			var l []attrValue
			_ = json.Unmarshal(raw, &l)
			n := 3
			for _, e := range l {
				n += 1 + e.size()
			}
			return n
		case "M":
			var m map[string]attrValue
			_ = json.Unmarshal(raw, &m)
			n := 3
			for k, e := range m {
				n += 1 + len(k) + e.size()
			}
			return n
		case "SS":
			var l []string
			_ = json.Unmarshal(raw, &l)
			n := 0
			for _, s := range l {
				n += len(s)
			}
			return n
		case "NS":
			var l []string
			_ = json.Unmarshal(raw, &l)
			n := 0
			for _, s := range l {
				n += numberSize(s)
			}
			return n
		case "BS":
			var l [][]byte
			_ = json.Unmarshal(raw, &l)
			n := 0
			for _, b := range l {
				n += len(b)
			}
			return n
		}
	}
	return 0
}

// numberSize approximates a number's size: one byte per two significant
// digits, plus one.
func numberSize(s string) int {
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0.")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(strings.ReplaceAll(s, ".", ""), "0")
	return (utf8.RuneCountInString(s)+1)/2 + 1
}

// kb returns the started kilobytes of size bytes, at least 1: the write
// units of an item of that size outside a transaction.
func kb(size int) float64 { return float64(max(1, (size+1023)/1024)) }

// Wire-format request shapes, decoded only as far as the double needs.
type (
	txItem struct {
		Put            *txAction `json:"Put,omitempty"`
		Update         *txAction `json:"Update,omitempty"`
		Delete         *txAction `json:"Delete,omitempty"`
		ConditionCheck *txAction `json:"ConditionCheck,omitempty"`
	}
	txAction struct {
		TableName string `json:"TableName"`
		Item      item   `json:"Item,omitempty"`
		Key       item   `json:"Key,omitempty"`
	}
	transactWrite struct {
		TransactItems      []txItem `json:"TransactItems"`
		ClientRequestToken string   `json:"ClientRequestToken,omitempty"`
	}
	singleRequest struct {
		TableName                 string               `json:"TableName"`
		IndexName                 string               `json:"IndexName,omitempty"`
		Item                      item                 `json:"Item,omitempty"`
		Key                       item                 `json:"Key,omitempty"`
		KeyConditionExpression    string               `json:"KeyConditionExpression,omitempty"`
		ExpressionAttributeNames  map[string]string    `json:"ExpressionAttributeNames,omitempty"`
		ExpressionAttributeValues map[string]attrValue `json:"ExpressionAttributeValues,omitempty"`
		ProjectionExpression      string               `json:"ProjectionExpression,omitempty"`
		Select                    string               `json:"Select,omitempty"`
	}
	batchGet struct {
		RequestItems map[string]struct {
			Keys                 []item `json:"Keys"`
			ProjectionExpression string `json:"ProjectionExpression,omitempty"`
		} `json:"RequestItems"`
	}
	batchWrite struct {
		RequestItems map[string][]struct {
			PutRequest    *struct{ Item item } `json:"PutRequest,omitempty"`
			DeleteRequest *struct{ Key item }  `json:"DeleteRequest,omitempty"`
		} `json:"RequestItems"`
	}
)

// action returns the one action of a transaction item and its kind.
func (t txItem) action() (string, *txAction) {
	switch {
	case t.Put != nil:
		return "Put", t.Put
	case t.Update != nil:
		return "Update", t.Update
	case t.Delete != nil:
		return "Delete", t.Delete
	case t.ConditionCheck != nil:
		return "ConditionCheck", t.ConditionCheck
	}
	return "", nil
}

// keyCondition finds the value the partition key is compared with in a
// query's KeyConditionExpression ("PK = :pk AND ...").
var keyCondition = regexp.MustCompile(`([#\w.]+)\s*=\s*(:\w+)`)

// queryPartition returns the canonical partition key value a query reads.
func (r *singleRequest) queryPartition(hash string) string {
	for _, m := range keyCondition.FindAllStringSubmatch(r.KeyConditionExpression, -1) {
		name := m[1]
		if strings.HasPrefix(name, "#") {
			name = r.ExpressionAttributeNames[name]
		}
		if name == hash {
			return r.ExpressionAttributeValues[m[2]].canon()
		}
	}
	return ""
}

// Error shapes of the DynamoDB JSON protocol (awsJson1_0).
const errorPrefix = "com.amazonaws.dynamodb.v20120810#"

// cancellationReason is one entry of a TransactionCanceledException.
type cancellationReason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
}

// Cancellation reason codes and messages, as DynamoDB words them.
const (
	reasonNone        = "None"
	reasonConflict    = "TransactionConflict"
	reasonThrottling  = "ThrottlingError"
	msgConflict       = "Transaction is ongoing for the item"
	msgThrottling     = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly."
	msgThroughput     = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
	msgInProgress     = "Transaction with the same ClientRequestToken is in progress"
	msgConflictSingle = "Transaction is ongoing for the item"
)

// cancelled is the body of a TransactionCanceledException.
func cancelled(reasons []cancellationReason) []byte {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = r.Code
	}
	b, _ := json.Marshal(struct {
		Type    string               `json:"__type"`
		Message string               `json:"Message"`
		Reasons []cancellationReason `json:"CancellationReasons"`
	}{errorPrefix + "TransactionCanceledException",
		"Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
		reasons})
	return b
}

// throttlingReason is one entry of ThrottlingReasons.
type throttlingReason struct {
	Reason   string `json:"reason"`
	Resource string `json:"resource"`
}

// throughputExceeded is the body of a ProvisionedThroughputExceededException
// with its ThrottlingReasons (for example TableWriteKeyRangeThroughputExceeded).
func throughputExceeded(reasons []throttlingReason) []byte {
	b, _ := json.Marshal(struct {
		Type    string             `json:"__type"`
		Message string             `json:"message"`
		Reasons []throttlingReason `json:"ThrottlingReasons"`
	}{errorPrefix + "ProvisionedThroughputExceededException", msgThroughput, reasons})
	return b
}

// simpleError is the body of an exception with only a message.
func simpleError(name, message string) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{errorPrefix + name, message})
	return b
}

// response builds an HTTP response of the JSON protocol.
func (d *Double) response(req *http.Request, status int, body []byte) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amzn-Requestid", fmt.Sprintf("ddbdouble-%d", d.seq.Add(1)))
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: nopCloser{bytes.NewReader(body)}, ContentLength: int64(len(body)),
		Request: req,
	}
}

// replaceBody makes b the body of resp, a response of DynamoDB Local the
// double rewrote: its length follows, and its CRC32 (of the old body) goes.
func replaceBody(resp *http.Response, b []byte) {
	resp.Body = nopCloser{bytes.NewReader(b)}
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("X-Amz-Crc32")
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
