package samtemplate

import (
	"sort"
	"strings"
)

// ResolveEnv turns a function's Env into the strings its process sees.
// refs answers Ref and Fn::Sub variables: logical ids (e.g. "Table" -> the
// table name), parameter names and pseudo parameters ("AWS::Region"), and
// "Resource.Attribute" for ${Resource.Attribute} in Fn::Sub. Strings pass
// through, numbers and booleans are formatted; {"Ref": X}, Fn::Sub and
// Fn::Join resolve when refs has every name they use. Any other value (or
// a name refs lacks) resolves to "" and its variable is listed, sorted, in
// the second result.
func ResolveEnv(env map[string]any, refs map[string]string) (map[string]string, []string) {
	out := make(map[string]string, len(env))
	var unresolved []string
	for name, v := range env {
		s, ok := resolve(v, refs)
		if !ok {
			unresolved = append(unresolved, name)
		}
		out[name] = s
	}
	sort.Strings(unresolved)
	return out, unresolved
}

// resolve returns the string value of v, and false if it cannot.
func resolve(v any, refs map[string]string) (string, bool) {
	if v == nil {
		return "", true
	}
	if s, ok := scalarString(v); ok {
		return s, true
	}
	fn, arg, ok := Intrinsic(v)
	if !ok {
		return "", false
	}
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		s, ok := refs[name]
		return s, ok
	case "Fn::Sub":
		switch a := arg.(type) {
		case string:
			return sub(a, nil, refs)
		case []any:
			if len(a) != 2 {
				return "", false
			}
			text, ok := a[0].(string)
			vars, _ := a[1].(map[string]any)
			if !ok {
				return "", false
			}
			local := make(map[string]string, len(vars))
			for k, lv := range vars {
				s, ok := resolve(lv, refs)
				if !ok {
					return "", false
				}
				local[k] = s
			}
			return sub(text, local, refs)
		}
	case "Fn::Join":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return "", false
		}
		sep, ok := a[0].(string)
		parts, _ := a[1].([]any)
		if !ok {
			return "", false
		}
		strs := make([]string, 0, len(parts))
		for _, p := range parts {
			s, ok := resolve(p, refs)
			if !ok {
				return "", false
			}
			strs = append(strs, s)
		}
		return strings.Join(strs, sep), true
	}
	return "", false
}

// sub expands ${Name} in text from local, then refs; ${!Literal} stands
// for the text ${Literal}.
func sub(text string, local, refs map[string]string) (string, bool) {
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			b.WriteString(text)
			return b.String(), true
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			b.WriteString(text)
			return b.String(), true
		}
		b.WriteString(text[:i])
		name := text[i+2 : i+j]
		switch {
		case strings.HasPrefix(name, "!"):
			b.WriteString("${" + name[1:] + "}")
		default:
			s, ok := local[name]
			if !ok {
				s, ok = refs[name]
			}
			if !ok {
				return "", false
			}
			b.WriteString(s)
		}
		text = text[i+j+1:]
	}
}
