package dynamo

import (
	"fmt"
	"hash/fnv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/outdial"
)

// Key layout (docs/design.md "Data model"):
//
//	outdial (list copy) PK=CUSTOMER#<customer_id>       SK=OUTDIAL#<outdial_id>
//	outdial (head)      PK=OUTDIAL#<outdial_id>         SK=#HEAD
//	count slot          PK=OUTDIAL#<outdial_id>         SK=#C#<000..127>
//	purge marker        PK=OUTDIAL#<outdial_id>         SK=#PURGE
//	target              PK=OUTDIAL#<outdial_id>#<shard> SK=TARGET#<target_id>
//	                    GSI1PK=OUTDIAL#<outdial_id>#<shard>#<status>  GSI1SK=<due/lease/update ms>
//	lease registration  PK=SWEEP#<minute>#<0..7>        SK=<outdial_id>
//	sweep cursor        PK=SWEEP                        SK=#CURSOR
const (
	prefixCustomer = "CUSTOMER#"
	prefixOutdial  = "OUTDIAL#"
	prefixTarget   = "TARGET#"
	prefixSlot     = "#C#"
	skHead         = "#HEAD"
	skPurge        = "#PURGE"
	prefixSweep    = "SWEEP#"
)

func outdialPK(customerID string) string { return prefixCustomer + customerID }
func outdialSK(id string) string         { return prefixOutdial + id }

// headPK is the partition of an outdial's head item and count slots.
func headPK(outdialID string) string { return prefixOutdial + outdialID }

// shardPK is the partition key of shard k of an outdial's targets.
func shardPK(outdialID string, k int) string {
	return fmt.Sprintf("%s%s#%02d", prefixOutdial, outdialID, k)
}

// statusPK is the GSI1 partition key listing shard k's targets in status.
func statusPK(outdialID string, k int, st outdial.Status) string {
	return shardPK(outdialID, k) + "#" + string(st)
}

// ShardOf returns the shard a target id lives in. Target ids are UUIDs, so a
// hash of the id spreads targets evenly.
func ShardOf(targetID string) int {
	h := fnv.New32a()
	h.Write([]byte(targetID))
	return int(h.Sum32() % Shards)
}

func avS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func avN(v int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(pk), attrSK: avS(sk)}
}

func headKey(outdialID string) map[string]types.AttributeValue {
	return key(headPK(outdialID), skHead)
}

// purgeKey is the key of the marker a delete leaves for the purge of the
// outdial's targets (PurgeTargets).
func purgeKey(outdialID string) map[string]types.AttributeValue {
	return key(headPK(outdialID), skPurge)
}

func slotKey(outdialID string, i int) map[string]types.AttributeValue {
	return key(headPK(outdialID), fmt.Sprintf("%s%03d", prefixSlot, i))
}

func targetKey(outdialID, targetID string) map[string]types.AttributeValue {
	return key(shardPK(outdialID, ShardOf(targetID)), prefixTarget+targetID)
}
