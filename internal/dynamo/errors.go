package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/outdial/outdial/internal/outdial"
)

// isConditionFailed reports whether err is a failed condition expression.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancellation returns the per-item reasons of a cancelled transaction, or
// nil.
func cancellation(err error) []types.CancellationReason {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	return tce.CancellationReasons
}

// Cancellation reason codes the store acts on.
const (
	reasonNone       = "None"
	reasonCondition  = "ConditionalCheckFailed"
	reasonConflict   = "TransactionConflict"
	reasonThrottling = "ThrottlingError"
)

func code(r types.CancellationReason) string { return aws.ToString(r.Code) }

// transient reports whether a cancellation reason may clear when the same
// item is written again a moment later.
func transient(r types.CancellationReason) bool {
	switch code(r) {
	case reasonConflict, reasonThrottling, "ProvisionedThroughputExceeded", "TransactionInProgress":
		return true
	}
	return false
}

// classify wraps err with context and turns the errors a client should
// retry (throttling, capacity, transaction conflicts, timeouts) into an
// outdial.Error with ECodeUnavailable, which the API answers with 503.
func classify(op string, err error) error {
	var oe *outdial.Error
	if errors.As(err, &oe) {
		return err
	}
	if IsRetryable(err) {
		return &outdial.Error{Code: outdial.ECodeUnavailable, Message: "the database is busy or slow; retry the request"}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// IsRetryable reports whether err is a throttle, a conflict or a timeout:
// something that may succeed if tried again.
func IsRetryable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errSlotBusy) || errors.Is(err, errSlotThrottled) {
		return true
	}
	// The request failed on its way (a cut connection, the SDK's retries
	// spent on one): it may succeed if sent again.
	var send *smithyhttp.RequestSendError
	var spent *retry.MaxAttemptsError
	if errors.As(err, &send) || errors.As(err, &spent) {
		return true
	}
	if ce := (*cancelledError)(nil); errors.As(err, &ce) {
		return ce.transient()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
			"TransactionConflictException", "TransactionInProgressException", "InternalServerError",
			"ServiceUnavailable", "LimitExceededException":
			return true
		case "TransactionCanceledException":
			for _, r := range cancellation(err) {
				if transient(r) {
					return true
				}
			}
		}
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// ambiguous reports whether a write that failed with err may have been
// applied: its answer was lost (a timeout, a cut connection) or the
// service failed while doing it. A throttled or refused write was not.
func ambiguous(err error) bool {
	if errors.Is(err, errSlotBusy) || errors.Is(err, errSlotThrottled) || errors.Is(err, errOutdialGone) || errors.As(err, new(*cancelledError)) {
		return false // refused: not applied
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InternalServerError", "ServiceUnavailable":
			return true
		}
		return false
	}
	return true
}

// backoff sleeps before retry number attempt (1, 2, ...): full jitter over
// an exponential bound of 10 ms doubling to at most 640 ms. It refuses at
// once (context.DeadlineExceeded) when the sleep would leave less than
// resendReserve before ctx's deadline: that time is for answering.
func backoff(ctx context.Context, attempt int) error {
	bound := time.Duration(10<<min(max(attempt-1, 0), 6)) * time.Millisecond
	d := time.Duration(rand.Int64N(int64(bound))) + time.Millisecond
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d+resendReserve {
		return context.DeadlineExceeded
	}
	return pause(ctx, d)
}

// pause sleeps d, or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxAttemptsUnbounded bounds the retries of a store operation whose
// context has no deadline (with one, the deadline bounds them).
const maxAttemptsUnbounded = 12

// keepTrying reports whether attempt number attempt (1, 2, ...) may start:
// while ctx has reserve left before its deadline, or, without a deadline,
// for maxAttemptsUnbounded attempts.
func keepTrying(ctx context.Context, attempt int, reserve time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return attempt <= maxAttemptsUnbounded
	}
	return time.Until(dl) >= reserve
}
