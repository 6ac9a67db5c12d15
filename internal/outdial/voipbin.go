package outdial

import (
	"encoding/json"
	"strconv"
)

// VoIPBIN's shape of a target: destination_0..destination_4 (its
// CommonAddress) and try_count_0..try_count_4. A target sent in that shape
// keeps the slot of each destination; every target is answered with the
// slots besides destination/destinations, so that VoIPBIN's clients read
// it unchanged.

// SlotAddress is VoIPBIN's CommonAddress in a destination_N slot. Only
// type and target are used; target_name, name and detail are accepted and
// ignored. A slot whose type is empty ({} included) holds no destination.
type SlotAddress struct {
	Type       string `json:"type,omitempty"`
	Target     string `json:"target,omitempty"`
	TargetName string `json:"target_name,omitempty"`
	Name       string `json:"name,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// slot is one filled slot of a TargetCreate.
type slot struct {
	n int
	a *SlotAddress
}

func slotField(n int) string { return "destination_" + strconv.Itoa(n) }

// slots returns the filled destination_N slots of c, in slot order.
func (c *TargetCreate) slots() []slot {
	var out []slot
	for n, a := range []*SlotAddress{c.Destination0, c.Destination1, c.Destination2, c.Destination3, c.Destination4} {
		if a != nil && a.Type != "" {
			out = append(out, slot{n, a})
		}
	}
	return out
}

// fromSlots sets the destinations of nt from filled slots, each with
// tryMax tries, dialed in slot order; addresses normalises them.
func (nt *NewTarget) fromSlots(slots []slot, tryMax int, addresses AddressNormalizer) error {
	seen := map[string]bool{}
	moved := false
	for i, s := range slots {
		field := slotField(s.n)
		a, err := addresses.NormalizeAddress(field, Address{Type: s.a.Type, Target: s.a.Target})
		if err != nil {
			return err
		}
		if seen[a.Key()] {
			return FieldErrorf(ECodeInvalidField, field, "repeats an earlier destination of this target")
		}
		seen[a.Key()] = true
		nt.Destinations = append(nt.Destinations, TargetDestination{Type: a.Type, Target: a.Target, TryCountMax: tryMax})
		nt.Slots = append(nt.Slots, s.n)
		moved = moved || s.n != i
	}
	if !moved {
		nt.Slots = nil
	}
	return nil
}

// MarshalJSON writes t with VoIPBIN's destination_0..destination_4 (an
// empty slot is {}) and try_count_0..try_count_4 (tries made per
// destination) besides its own fields.
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target // without this method
	v := struct {
		plain
		D0 SlotAddress `json:"destination_0"`
		D1 SlotAddress `json:"destination_1"`
		D2 SlotAddress `json:"destination_2"`
		D3 SlotAddress `json:"destination_3"`
		D4 SlotAddress `json:"destination_4"`
		T0 int         `json:"try_count_0"`
		T1 int         `json:"try_count_1"`
		T2 int         `json:"try_count_2"`
		T3 int         `json:"try_count_3"`
		T4 int         `json:"try_count_4"`
	}{plain: plain(t)}
	addr := [MaxDestinations]*SlotAddress{&v.D0, &v.D1, &v.D2, &v.D3, &v.D4}
	tries := [MaxDestinations]*int{&v.T0, &v.T1, &v.T2, &v.T3, &v.T4}
	dests := t.Destinations
	if len(dests) == 0 { // the one-destination form
		dests = []TargetDestination{{Type: t.Destination.Type, Target: t.Destination.Target, TryCountCurrent: t.TryCountCurrent}}
	}
	for i, d := range dests {
		n := i
		if i < len(t.Slots) {
			n = t.Slots[i]
		}
		if n < 0 || n >= MaxDestinations || d.Type == "" {
			continue
		}
		*addr[n] = SlotAddress{Type: d.Type, Target: d.Target}
		*tries[n] = d.TryCountCurrent
	}
	return json.Marshal(v)
}
