package voipbincompat_test

import (
	"net/url"
	"strconv"
	"testing"
)

// TestBothPaginationLoopsEnd pages through 5 outdials and 5 targets, 2 at
// a time, with both loops clients write: "while next_page_token is not
// empty" and "until a page comes back empty" (passing next_page_token on,
// "" included). Each must end, within a bound, having seen every item
// exactly once.
func TestBothPaginationLoopsEnd(t *testing.T) {
	const n, pageSize = 5, 2
	st := startStack(t)
	sdk, _ := newClient(t, st, accessKey)

	outdials := map[string]int{}
	var first string
	for i := range n {
		var od OutdialManagerOutdial
		sdk.do(t, "POST", "/v1.0/outdials", nil, PostOutdialsJSONBody{Name: "Page " + strconv.Itoa(i), Data: strconv.Itoa(i)}, &od)
		outdials[deref(od.ID)] = 0
		if i == 0 {
			first = deref(od.ID)
		}
	}
	base := "/v1.0/outdials/" + first

	// page fetches one page; sendToken says whether page_token is sent
	// (even when empty).
	type page func(t *testing.T, token string, sendToken bool) (ids []string, next string)
	query := func(token string, sendToken bool) url.Values {
		q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
		if sendToken {
			q.Set("page_token", token)
		}
		return q
	}
	// shape checks what every page holds: a result array and a
	// next_page_token, non-empty when there are results, "" when not.
	shape := func(t *testing.T, result bool, n int, next *string) {
		t.Helper()
		if !result || next == nil {
			t.Errorf("page has result %v, next_page_token %v; want both present", result, next != nil)
		}
		if n > 0 && deref(next) == "" {
			t.Errorf("a page of %d results has no next_page_token; want one (the page after the last is empty)", n)
		}
		if n == 0 && deref(next) != "" {
			t.Errorf("an empty page has next_page_token %q, want \"\"", *next)
		}
	}
	outdialPage := func(t *testing.T, token string, sendToken bool) ([]string, string) {
		t.Helper()
		var l OutdialList
		sdk.do(t, "GET", "/v1.0/outdials", query(token, sendToken), nil, &l)
		shape(t, l.Result != nil, len(deref(l.Result)), l.NextPageToken)
		var ids []string
		for _, od := range deref(l.Result) {
			ids = append(ids, deref(od.ID))
		}
		return ids, deref(l.NextPageToken)
	}
	targetPage := func(t *testing.T, token string, sendToken bool) ([]string, string) {
		t.Helper()
		var l TargetList
		sdk.do(t, "GET", base+"/targets", query(token, sendToken), nil, &l)
		shape(t, l.Result != nil, len(deref(l.Result)), l.NextPageToken)
		var ids []string
		for _, tg := range deref(l.Result) {
			ids = append(ids, deref(tg.ID))
		}
		return ids, deref(l.NextPageToken)
	}

	// Enough pages for every item and the empty one after, and a few more.
	const maxPages = n/pageSize + 4
	loops := []struct {
		name string
		run  func(t *testing.T, p page) []string
	}{
		{"while next_page_token", func(t *testing.T, p page) []string {
			var seen []string
			token := ""
			for range maxPages {
				ids, next := p(t, token, token != "")
				seen = append(seen, ids...)
				if next == "" {
					return seen
				}
				token = next
			}
			t.Fatalf("no end after %d pages (seen %d items)", maxPages, len(seen))
			return nil
		}},
		{"until an empty page", func(t *testing.T, p page) []string {
			var seen []string
			token := ""
			for range maxPages {
				ids, next := p(t, token, true)
				if len(ids) == 0 {
					return seen
				}
				seen = append(seen, ids...)
				token = next
			}
			t.Fatalf("no end after %d pages (seen %d items)", maxPages, len(seen))
			return nil
		}},
	}
	// each runs both loops over one list.
	each := func(list string, p page, want map[string]int) {
		for _, loop := range loops {
			t.Run(list+"/"+loop.name, func(t *testing.T) {
				seen := map[string]int{}
				for _, id := range loop.run(t, p) {
					seen[id]++
				}
				for id, k := range seen {
					if _, ok := want[id]; !ok {
						t.Errorf("%s is not one of the %d created", id, len(want))
					} else if k != 1 {
						t.Errorf("%s seen %d times, want once", id, k)
					}
				}
				for id := range want {
					if seen[id] == 0 {
						t.Errorf("%s never seen", id)
					}
				}
			})
		}
	}
	each("outdials", outdialPage, outdials)

	// The targets: one batch of VoIPBIN-shaped targets in the first outdial.
	bodies, _ := voipbinTargets(first, n)
	targets := map[string]int{}
	for _, id := range postBatch(t, sdk, base, bodies) {
		targets[id] = 0
	}
	each("targets", targetPage, targets)
}
