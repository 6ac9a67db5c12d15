package dynamo

import (
	"fmt"
	"hash/fnv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Key layout (README "Data model"):
//
//	outdial   PK=CUSTOMER#<customer_id>       SK=OUTDIAL#<outdial_id>
//	counts    PK=OUTDIAL#<outdial_id>#<shard>  SK=#COUNTS
//	target    PK=OUTDIAL#<outdial_id>#<shard>  SK=TARGET#<target_id>
//	          GSI1PK=OUTDIAL#<outdial_id>#<shard>#<status>  GSI1SK=<due/lease/update ms>
const (
	prefixCustomer = "CUSTOMER#"
	prefixOutdial  = "OUTDIAL#"
	prefixTarget   = "TARGET#"
	skCounts       = "#COUNTS"
)

func outdialPK(customerID string) string { return prefixCustomer + customerID }
func outdialSK(id string) string         { return prefixOutdial + id }

// shardPK is the partition key of shard k of an outdial's targets.
func shardPK(outdialID string, k int) string {
	return fmt.Sprintf("%s%s#%02d", prefixOutdial, outdialID, k)
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

func countsKey(outdialID string, k int) map[string]types.AttributeValue {
	return key(shardPK(outdialID, k), skCounts)
}
