package suppressions_test

import (
	"testing"

	"github.com/outdial/outdial/internal/dynamotest"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }
