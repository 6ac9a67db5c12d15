package samtemplate

// Statement is one statement of an inline IAM policy document, as a
// function's Policies write it: Action and Resource may each be one value
// or a list.
type Statement struct {
	Allow     bool     // Effect: Allow (else Deny)
	Actions   []string // Action (strings only)
	Resources []any    // Resource, as written (strings or intrinsics)
	// NotAction and NotResource report whether the statement uses them.
	NotAction, NotResource bool
}

// Statements returns the statements of an inline policy document (a map
// with a Statement key), and the indexes of the entries that are not
// mappings; ok is false when doc is no such document (a managed policy's
// name, a SAM policy template).
func Statements(doc any) (stmts []Statement, bad []int, ok bool) {
	m, isMap := doc.(map[string]any)
	if !isMap || m["Statement"] == nil {
		return nil, nil, false
	}
	for j, sv := range List(m["Statement"]) {
		st, isMap := sv.(map[string]any)
		if !isMap {
			bad = append(bad, j)
			continue
		}
		s := Statement{Allow: st["Effect"] == "Allow", Resources: List(st["Resource"])}
		for _, a := range List(st["Action"]) {
			if a, isString := a.(string); isString {
				s.Actions = append(s.Actions, a)
			}
		}
		_, s.NotAction = st["NotAction"]
		_, s.NotResource = st["NotResource"]
		stmts = append(stmts, s)
	}
	return stmts, bad, true
}

// List returns v as a list: v itself if it is one, else a list of v.
func List(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
