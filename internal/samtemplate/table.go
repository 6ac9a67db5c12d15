package samtemplate

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableInput converts the Properties of the AWS::DynamoDB::Table logicalID
// into a CreateTableInput: billing mode, attribute definitions, key
// schema, global and local secondary indexes (with projections),
// provisioned throughput and stream specification. TableName is set only
// when the template gives a literal name; otherwise the caller sets it.
func (t *Template) TableInput(logicalID string) (*dynamodb.CreateTableInput, error) {
	res, ok := t.resources[logicalID]
	if !ok || res["Type"] != TypeTable {
		return nil, fmt.Errorf("no %s resource %q in the template", TypeTable, logicalID)
	}
	p := properties(res)
	in := &dynamodb.CreateTableInput{}
	var err error
	fail := func(field string, err error) (*dynamodb.CreateTableInput, error) {
		return nil, fmt.Errorf("table %s: %s: %w", logicalID, field, err)
	}

	// Name (a literal only) and billing mode; CloudFormation's default
	// billing mode is PROVISIONED.
	if name, ok := p["TableName"].(string); ok {
		in.TableName = aws.String(name)
	}
	in.BillingMode = types.BillingModeProvisioned
	if v, ok := p["BillingMode"]; ok {
		s, err := literal(v)
		if err != nil {
			return fail("BillingMode", err)
		}
		in.BillingMode = types.BillingMode(s)
	}

	// Attributes and keys.
	for i, a := range list(p["AttributeDefinitions"]) {
		m, _ := a.(map[string]any)
		name, err := literal(m["AttributeName"])
		if err != nil {
			return fail(fmt.Sprintf("AttributeDefinitions[%d].AttributeName", i), err)
		}
		typ, err := literal(m["AttributeType"])
		if err != nil {
			return fail(fmt.Sprintf("AttributeDefinitions[%d].AttributeType", i), err)
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(name), AttributeType: types.ScalarAttributeType(typ),
		})
	}
	if in.KeySchema, err = keySchema(p["KeySchema"]); err != nil {
		return fail("KeySchema", err)
	}
	if len(in.KeySchema) == 0 {
		return fail("KeySchema", fmt.Errorf("missing"))
	}
	if in.ProvisionedThroughput, err = throughput(p["ProvisionedThroughput"]); err != nil {
		return fail("ProvisionedThroughput", err)
	}

	// Indexes.
	for i, g := range list(p["GlobalSecondaryIndexes"]) {
		name, keys, proj, err := index(g)
		if err != nil {
			return fail(fmt.Sprintf("GlobalSecondaryIndexes[%d]", i), err)
		}
		gsi := types.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: keys, Projection: proj}
		m, _ := g.(map[string]any)
		if gsi.ProvisionedThroughput, err = throughput(m["ProvisionedThroughput"]); err != nil {
			return fail(fmt.Sprintf("GlobalSecondaryIndexes[%d].ProvisionedThroughput", i), err)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
	}
	for i, l := range list(p["LocalSecondaryIndexes"]) {
		name, keys, proj, err := index(l)
		if err != nil {
			return fail(fmt.Sprintf("LocalSecondaryIndexes[%d]", i), err)
		}
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(name), KeySchema: keys, Projection: proj,
		})
	}

	// Stream.
	if s, ok := p["StreamSpecification"].(map[string]any); ok {
		view, err := literal(s["StreamViewType"])
		if err != nil {
			return fail("StreamSpecification.StreamViewType", err)
		}
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(view),
		}
	}
	return in, nil
}

// index reads the name, key schema and projection of a secondary index.
func index(v any) (string, []types.KeySchemaElement, *types.Projection, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", nil, nil, fmt.Errorf("not a mapping")
	}
	name, err := literal(m["IndexName"])
	if err != nil {
		return "", nil, nil, fmt.Errorf("IndexName: %w", err)
	}
	keys, err := keySchema(m["KeySchema"])
	if err != nil {
		return "", nil, nil, fmt.Errorf("KeySchema: %w", err)
	}
	pm, _ := m["Projection"].(map[string]any)
	proj := &types.Projection{}
	if pt, ok := pm["ProjectionType"]; ok {
		s, err := literal(pt)
		if err != nil {
			return "", nil, nil, fmt.Errorf("Projection.ProjectionType: %w", err)
		}
		proj.ProjectionType = types.ProjectionType(s)
	}
	for i, a := range list(pm["NonKeyAttributes"]) {
		s, err := literal(a)
		if err != nil {
			return "", nil, nil, fmt.Errorf("Projection.NonKeyAttributes[%d]: %w", i, err)
		}
		proj.NonKeyAttributes = append(proj.NonKeyAttributes, s)
	}
	return name, keys, proj, nil
}

func keySchema(v any) ([]types.KeySchemaElement, error) {
	var out []types.KeySchemaElement
	for i, k := range list(v) {
		m, _ := k.(map[string]any)
		name, err := literal(m["AttributeName"])
		if err != nil {
			return nil, fmt.Errorf("[%d].AttributeName: %w", i, err)
		}
		typ, err := literal(m["KeyType"])
		if err != nil {
			return nil, fmt.Errorf("[%d].KeyType: %w", i, err)
		}
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(name), KeyType: types.KeyType(typ)})
	}
	return out, nil
}

func throughput(v any) (*types.ProvisionedThroughput, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil
	}
	r, err := literalInt(m["ReadCapacityUnits"])
	if err != nil {
		return nil, fmt.Errorf("ReadCapacityUnits: %w", err)
	}
	w, err := literalInt(m["WriteCapacityUnits"])
	if err != nil {
		return nil, fmt.Errorf("WriteCapacityUnits: %w", err)
	}
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(r), WriteCapacityUnits: aws.Int64(w)}, nil
}

// literal returns v as a non-empty literal string; intrinsics cannot be
// turned into a table definition.
func literal(v any) (string, error) {
	if _, _, ok := Intrinsic(v); ok {
		return "", fmt.Errorf("intrinsic %v is not supported here", v)
	}
	s, ok := scalarString(v)
	if !ok || s == "" {
		return "", fmt.Errorf("missing or not a string: %v", v)
	}
	return s, nil
}

func literalInt(v any) (int64, error) {
	s, err := literal(v)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

// list returns v as a list (nil when it is not one).
func list(v any) []any {
	l, _ := v.([]any)
	return l
}
