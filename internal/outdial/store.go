package outdial

import "context"

// Page asks for one page of a list. Cursor is the store's own opaque
// position ("" for the first page); the HTTP layer seals it into a page
// token that clients cannot forge.
type Page struct {
	Size   int
	Cursor string
	// End: the token came after the list's last row; the answer is an
	// empty page, read from nowhere.
	End bool
}

// Store is the persistence port. The DynamoDB adapter implements it; every
// method scopes by customer so that another customer's id reads as missing.
type Store interface {
	// CreateOutdial stores o (ID, CustomerID and times already set).
	CreateOutdial(ctx context.Context, o *Outdial) error
	// GetOutdial returns the outdial with its target counts.
	GetOutdial(ctx context.Context, customerID, id string) (*Outdial, error)
	// ListOutdials returns the customer's active (or, with archived, its
	// archived) outdials newest first, and the cursor of the next page (""
	// on the last page). A page may come back short.
	ListOutdials(ctx context.Context, customerID string, archived bool, p Page) ([]*Outdial, string, error)
	// UpdateOutdial applies u and returns the outdial as stored afterwards.
	UpdateOutdial(ctx context.Context, customerID, id string, u *OutdialUpdate) (*Outdial, error)
	// DeleteOutdial removes the outdial and returns it as it was. before,
	// if not nil, runs once the outdial is known to be the customer's and
	// before anything is removed; its error is returned and nothing is
	// removed (the API queues the purge of the targets there).
	DeleteOutdial(ctx context.Context, customerID, id string, before func(*Outdial) error) (*Outdial, error)
	// SetArchived archives (archived true) or restores the outdial, and
	// returns it as stored afterwards. Both are idempotent.
	SetArchived(ctx context.Context, customerID, id string, archived bool) (*Outdial, error)

	TargetStore
	DialStore
	SuppressionStore
}

// ImportResult says what happened to each target of an import, by its index
// in the request.
type ImportResult struct {
	Created    []Created      // in request order
	Duplicates []Duplicate    // rows that named a destination the outdial already has
	Rejected   []RejectedItem // filled by the caller (validation); the store never rejects
}

// Created is one row that created a target.
type Created struct {
	Index  int
	Target *Target
}

// Duplicate is one row that created nothing because its destination is
// already a target of the outdial (or appeared earlier in the same request).
type Duplicate struct {
	Index    int    `json:"index"`
	Line     int    `json:"line,omitempty"`
	TargetID string `json:"target_id"`
	Reason   string `json:"reason"` // "exists" or "repeated_in_request"
}

// RejectedItem is one row that failed validation.
type RejectedItem struct {
	Index   int    `json:"index"`
	Line    int    `json:"line,omitempty"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// TargetStore is the part of the Store port that handles targets.
type TargetStore interface {
	// AddTargets stores the targets that are new to the outdial, each
	// exactly once, and never overwrites an existing one. idem is a key
	// unique to this request (its request id), used to make the store's own
	// retries idempotent.
	AddTargets(ctx context.Context, customerID, outdialID, idem string, targets []*NewTarget) (*ImportResult, error)
	// GetTarget returns one target of the customer's outdial.
	GetTarget(ctx context.Context, customerID, outdialID, targetID string) (*Target, error)
	// ListTargets pages through the outdial's targets, optionally only those
	// that pass f (a page may then come back short; the cursor still walks
	// the whole list).
	ListTargets(ctx context.Context, customerID, outdialID string, f TargetFilter, p Page) ([]*Target, string, error)
	// DeleteTarget removes one target and returns it as it was.
	DeleteTarget(ctx context.Context, customerID, outdialID, targetID string) (*Target, error)
	// DeleteTargets deletes the outdial's targets that pass f (not the
	// zero filter), moving the counts with them, until none is left or
	// ctx's deadline nears; more reports that some may be left.
	DeleteTargets(ctx context.Context, customerID, outdialID string, f TargetFilter) (deleted int, more bool, err error)
}
