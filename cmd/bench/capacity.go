package main

import (
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Write capacity computed from item sizes, because DynamoDB Local's
// ConsumedCapacity for a TransactWriteItems with several actions is not
// their sum (it reports about one item's worth however many items the
// transaction writes; see docs/bench.md). The model, per item written:
//
//   - table: 1 WCU per started KB of the item (the larger of its sizes
//     before and after an update), 2 WCU per KB inside a transaction;
//   - GSI1 (projection ALL): 1 WCU per KB for every index entry written
//     or removed; an update that changes the index key removes the old
//     entry and writes a new one. Index writes are not doubled for
//     transactions here (DynamoDB Local doubles them).
//
// Count slots are smaller than 1 KB and not in GSI1: 1 WCU, 2 in a
// transaction.

// itemSize returns the size of item as DynamoDB counts it: attribute
// name lengths plus value sizes.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	}
	return 0
}

// numberSize approximates a number's size: one byte per two significant
// digits, plus one.
func numberSize(s string) int {
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0.")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(strings.ReplaceAll(s, ".", ""), "0")
	return (utf8.RuneCountInString(s)+1)/2 + 1
}

// kb returns the started kilobytes of size bytes (at least 1).
func kb(size int) float64 {
	return float64(max(1, (size+1023)/1024))
}

// wcuModel is a write cost split into table and index units.
type wcuModel struct {
	Table, Index float64
}

func (w wcuModel) Total() float64 { return w.Table + w.Index }

func (w wcuModel) add(o wcuModel) wcuModel { return wcuModel{w.Table + o.Table, w.Index + o.Index} }

// putCost is the cost of writing a new item that has an index entry.
func putCost(size int, transactional bool) wcuModel {
	m := 1.0
	if transactional {
		m = 2
	}
	return wcuModel{Table: m * kb(size), Index: kb(size)}
}

// rekeyCost is the cost of an update from before to after bytes that
// moves the item to another index key (a status change).
func rekeyCost(before, after int, transactional bool) wcuModel {
	m := 1.0
	if transactional {
		m = 2
	}
	return wcuModel{Table: m * kb(max(before, after)), Index: kb(before) + kb(after)}
}

// countCost is the cost of n count-item updates in transactions.
func countCost(n int) wcuModel { return wcuModel{Table: 2 * float64(n)} }
