// Package apidoc_test checks api/openapi.yaml against the service: the
// document is valid OpenAPI 3.0, names every route of template.yaml and no
// other, and every request and response of a real local stack, for every
// route, matches it. The package holds tests only.
package apidoc_test

import (
	"testing"

	"github.com/outdial/outdial/internal/dynamotest"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }
