// Package storeenv builds the DynamoDB store of a function from its
// environment (TABLE_NAME, LEASE_GRACE_SECONDS and, for the local
// stand-in, DYNAMODB_ENDPOINT). It is apart from package app so that the
// functions without a table (the authorizer) do not link the DynamoDB
// client.
package storeenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/dynamo"
)

// New returns the store on TABLE_NAME over a DynamoDB client built from
// cfg with dynamo.ClientOptions, DYNAMODB_ENDPOINT when that is set, and
// optFns (the local runner passes its HTTP client there); a set
// LEASE_GRACE_SECONDS replaces the store's lease grace. Build it once, at
// init.
func New(cfg aws.Config, getenv func(string) string, optFns ...func(*dynamodb.Options)) (*dynamo.Store, error) {
	table, err := app.TableName(getenv)
	if err != nil {
		return nil, err
	}
	endpoint := getenv(app.EnvDynamoDBEndpoint)
	opts := append([]func(*dynamodb.Options){dynamo.ClientOptions, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}}, optFns...)
	store := dynamo.New(dynamodb.NewFromConfig(cfg, opts...), table)
	grace, ok, err := app.LeaseGrace(getenv)
	if err != nil {
		return nil, err
	}
	if ok {
		store = store.WithLeaseGrace(grace)
	}
	return store, nil
}
