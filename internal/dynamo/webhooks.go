package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/webhook"
)

var _ webhook.Store = (*Store)(nil)

// A customer's webhook (issue 15) is one item:
//
//	webhook  PK=WEBHOOK#<customer_id>  SK=#CFG
//
// with the attributes type ("webhook"), uri, event_types (a list of
// strings; absent: every type, including types added later), secrets (a
// list of maps {v: "whsec_<64 hex>", until: <Unix ms>}, the current secret
// first and without until, then rotated-out ones still valid until
// until), tm_create and tm_update. Every read is strongly consistent: a
// secret shown by a rotation signs the very next delivery.
const (
	prefixWebhook = "WEBHOOK#"
	skWebhook     = "#CFG"
	typeWebhook   = "webhook"

	// secretPrefix starts every webhook signing secret.
	secretPrefix = "whsec_"
	// secretBytes is how many random bytes a secret holds (hex encoded).
	secretBytes = 32
)

func webhookKey(customerID string) map[string]types.AttributeValue {
	return key(prefixWebhook+customerID, skWebhook)
}

// webhookItem is the stored form of a webhook.
type webhookItem struct {
	PK         string       `dynamodbav:"PK"`
	SK         string       `dynamodbav:"SK"`
	Type       string       `dynamodbav:"type"`
	URI        string       `dynamodbav:"uri"`
	EventTypes []string     `dynamodbav:"event_types,omitempty"`
	Secrets    []secretItem `dynamodbav:"secrets"`
	TMCreate   string       `dynamodbav:"tm_create"`
	TMUpdate   string       `dynamodbav:"tm_update"`
}

// secretItem is one secret; Until (Unix ms) is 0 for the current one.
type secretItem struct {
	V     string `dynamodbav:"v"`
	Until int64  `dynamodbav:"until,omitempty"`
}

// newWebhookSecret returns a new signing secret: "whsec_" and 32 random
// bytes in hex.
func newWebhookSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return secretPrefix + hex.EncodeToString(b)
}

// config returns the webhook of it as of now: secrets expired at now are
// left out.
func (it *webhookItem) config(customerID string, now time.Time) *webhook.Config {
	c := &webhook.Config{
		CustomerID: customerID, URI: it.URI,
		TMCreate: parseTime(it.TMCreate), TMUpdate: parseTime(it.TMUpdate),
	}
	for _, t := range it.EventTypes {
		c.EventTypes = append(c.EventTypes, events.Type(t))
	}
	for _, s := range it.Secrets {
		if s.Until != 0 && s.Until <= now.UnixMilli() {
			continue
		}
		sec := webhook.Secret{Value: s.V}
		if s.Until != 0 {
			sec.Until = time.UnixMilli(s.Until).UTC()
		}
		c.Secrets = append(c.Secrets, sec)
	}
	return c
}

func unmarshalWebhook(customerID string, item map[string]types.AttributeValue) (*webhookItem, error) {
	var it webhookItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return nil, fmt.Errorf("unmarshal the webhook of customer %s: %w", customerID, err)
	}
	return &it, nil
}

// PutWebhook implements webhook.Store with one UpdateItem, which no other
// write can race: it sets uri, event_types (removed when types is empty:
// every type) and tm_update, and sets secrets (one new current secret) and
// tm_create only if the item has none, so that an existing webhook keeps
// its secrets, the current one and those a rotation left valid. The
// answer is the item as written (secrets expired at now left out).
func (s *Store) PutWebhook(ctx context.Context, customerID, uri string, eventTypes []events.Type) (*webhook.Config, error) {
	now := s.now().UTC()
	secrets, err := attributevalue.Marshal([]secretItem{{V: newWebhookSecret()}})
	if err != nil {
		return nil, fmt.Errorf("marshal webhook secrets: %w", err)
	}
	expr := "SET #type = :type, uri = :uri, tm_update = :now, tm_create = if_not_exists(tm_create, :now), secrets = if_not_exists(secrets, :secrets)"
	vals := map[string]types.AttributeValue{
		":type": avS(typeWebhook), ":uri": avS(uri), ":now": avS(formatTime(now)), ":secrets": secrets,
	}
	if len(eventTypes) == 0 {
		expr += " REMOVE event_types"
	} else {
		list := make([]types.AttributeValue, len(eventTypes))
		for i, t := range eventTypes {
			list[i] = avS(string(t))
		}
		expr += ", event_types = :types"
		vals[":types"] = &types.AttributeValueMemberL{Value: list}
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: webhookKey(customerID),
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return nil, classify("put the webhook of customer "+customerID, err)
	}
	it, err := unmarshalWebhook(customerID, res.Attributes)
	if err != nil {
		return nil, err
	}
	return it.config(customerID, now), nil
}

// readWebhook reads the customer's webhook item (strongly consistent), or
// outdial.ErrNotFound("webhook").
func (s *Store) readWebhook(ctx context.Context, customerID string) (map[string]types.AttributeValue, *webhookItem, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: webhookKey(customerID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, nil, classify("get the webhook of customer "+customerID, err)
	}
	if res.Item == nil {
		return nil, nil, outdial.ErrNotFound("webhook")
	}
	it, err := unmarshalWebhook(customerID, res.Item)
	if err != nil {
		return nil, nil, err
	}
	return res.Item, it, nil
}

// GetWebhook implements webhook.Store: one strongly consistent GetItem.
// Secrets expired at the store's now are left out.
func (s *Store) GetWebhook(ctx context.Context, customerID string) (*webhook.Config, error) {
	_, it, err := s.readWebhook(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return it.config(customerID, s.now()), nil
}

// DeleteWebhook implements webhook.Store: one DeleteItem conditional on the
// item existing (outdial.ErrNotFound("webhook") otherwise).
func (s *Store) DeleteWebhook(ctx context.Context, customerID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: webhookKey(customerID),
		ConditionExpression: aws.String("attribute_exists(PK)"),
	})
	if isConditionFailed(err) {
		return outdial.ErrNotFound("webhook")
	}
	if err != nil {
		return classify("delete the webhook of customer "+customerID, err)
	}
	return nil
}

// RotateWebhook implements webhook.Store. It reads the item, then writes
// its new secrets: a new current one first, the current one(s) with until
// = now + webhook.RotationGrace, then the rotated-out ones still valid
// (expired ones are dropped). The write is conditional on the secrets
// being those read (secrets never repeat, so the condition sees any
// rotation or re-creation in between); on a race it reads again and
// retries, while ctx has time (or a bounded number of times).
func (s *Store) RotateWebhook(ctx context.Context, customerID string) (*webhook.Config, error) {
	for attempt := 1; ; attempt++ {
		raw, it, err := s.readWebhook(ctx, customerID)
		if err != nil {
			return nil, err
		}
		now := s.now().UTC()
		nowMS, until := now.UnixMilli(), now.Add(webhook.RotationGrace).UnixMilli()
		secrets := []secretItem{{V: newWebhookSecret()}}
		for _, sec := range it.Secrets {
			switch {
			case sec.Until == 0:
				secrets = append(secrets, secretItem{V: sec.V, Until: until})
			case sec.Until > nowMS:
				secrets = append(secrets, sec)
			}
		}
		av, err := attributevalue.Marshal(secrets)
		if err != nil {
			return nil, fmt.Errorf("marshal webhook secrets: %w", err)
		}
		old, ok := raw["secrets"]
		if !ok {
			return nil, fmt.Errorf("the webhook of customer %s has no secrets", customerID)
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: webhookKey(customerID),
			UpdateExpression:          aws.String("SET secrets = :new, tm_update = :now"),
			ConditionExpression:       aws.String("secrets = :old"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":new": av, ":old": old, ":now": avS(formatTime(now))},
		})
		if err == nil {
			it.Secrets, it.TMUpdate = secrets, formatTime(now)
			return it.config(customerID, now), nil
		}
		if !isConditionFailed(err) {
			return nil, classify("rotate the webhook secret of customer "+customerID, err)
		}
		// Rotated, deleted or re-created since the read: read again.
		if !keepTrying(ctx, attempt+1, resendReserve) || backoff(ctx, attempt) != nil {
			return nil, &outdial.Error{Code: outdial.ECodeConflict, Message: "the webhook changed during the rotation; retry the request"}
		}
	}
}
