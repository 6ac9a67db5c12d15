package samtemplate

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeYAML parses a CloudFormation template (YAML or JSON) into plain Go
// values: map[string]any, []any, string, int, float64, bool and nil.
// Short-form intrinsics (!Ref X, !GetAtt A.B, !Sub ..., !If [...]) become
// their long JSON form ({"Ref": "X"}, {"Fn::GetAtt": ["A", "B"]}, ...), so
// the result reads the same whichever form the template uses.
func decodeYAML(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return decodeNode(&doc)
}

func decodeNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return decodeNode(n.Content[0])
	case yaml.AliasNode:
		return decodeNode(n.Alias)
	}
	fn, ok := intrinsicName(n.Tag)
	if !ok {
		return decodePlain(n)
	}
	var arg any
	if n.Kind == yaml.ScalarNode {
		// The argument of a short-form tag on a scalar is always a string
		// (!Ref 10 names the logical id "10").
		arg = n.Value
	} else {
		v, err := decodePlain(n)
		if err != nil {
			return nil, err
		}
		arg = v
	}
	if s, ok := arg.(string); ok && fn == "Fn::GetAtt" {
		// !GetAtt Resource.Attribute; the attribute may itself contain dots
		// (Endpoint.Address), the logical id never does.
		res, attr, found := strings.Cut(s, ".")
		if !found {
			return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
		}
		arg = []any{res, attr}
	}
	return map[string]any{fn: arg}, nil
}

// intrinsicName maps a local YAML tag (!Ref, !Sub, ...) to the key of its
// long form; standard tags (!!str, !!map, ...) are not intrinsics.
func intrinsicName(tag string) (string, bool) {
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") || tag == "!" {
		return "", false
	}
	switch name := tag[1:]; name {
	case "Ref", "Condition":
		return name, true
	default:
		return "Fn::" + name, true
	}
}

// decodePlain decodes n ignoring any local tag on it.
func decodePlain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		return decodeMapping(n)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := decodeNode(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		if _, custom := intrinsicName(n.Tag); custom {
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	case yaml.AliasNode, yaml.DocumentNode:
		return decodeNode(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

func decodeMapping(n *yaml.Node) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merged []map[string]any
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
		}
		if k.Tag == "!!merge" {
			// YAML merge key (<<: *anchor), applied after the loop.
			m, err := mergeSources(v)
			if err != nil {
				return nil, err
			}
			merged = append(merged, m...)
			continue
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
		}
		val, err := decodeNode(v)
		if err != nil {
			return nil, err
		}
		out[k.Value] = val
	}
	// Explicit keys win over merged ones, and earlier merged mappings over
	// later ones.
	for _, m := range merged {
		for k, v := range m {
			if _, set := out[k]; !set {
				out[k] = v
			}
		}
	}
	return out, nil
}

func mergeSources(v *yaml.Node) ([]map[string]any, error) {
	var nodes []*yaml.Node
	if v.Kind == yaml.SequenceNode {
		nodes = v.Content
	} else {
		nodes = []*yaml.Node{v}
	}
	var out []map[string]any
	for _, n := range nodes {
		d, err := decodeNode(n)
		if err != nil {
			return nil, err
		}
		m, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("line %d: merge key value is not a mapping", n.Line)
		}
		out = append(out, m)
	}
	return out, nil
}

// Intrinsic reports whether v is a CloudFormation intrinsic function or
// condition: a map with the single key "Ref", "Condition" or "Fn::*". It
// returns that key and its argument.
func Intrinsic(v any) (fn string, arg any, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}
