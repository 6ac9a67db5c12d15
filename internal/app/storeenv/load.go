package storeenv

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/dynamo"
)

// Load is what a function's main does before it builds its handler: check
// TABLE_NAME, load the AWS configuration and build the store (New). It
// returns the configuration too, for the functions that build other
// clients from it.
func Load(ctx context.Context, getenv func(string) string) (*dynamo.Store, aws.Config, error) {
	if _, err := app.TableName(getenv); err != nil {
		return nil, aws.Config{}, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	store, err := New(cfg, getenv)
	return store, cfg, err
}
