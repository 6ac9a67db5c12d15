package outdial

import "context"

// Page asks for one page of a list. Cursor is the store's own opaque
// position ("" for the first page); the HTTP layer seals it into a page
// token that clients cannot forge.
type Page struct {
	Size   int
	Cursor string
}

// Store is the persistence port. The DynamoDB adapter implements it; every
// method scopes by customer so that another customer's id reads as missing.
type Store interface {
	// CreateOutdial stores o (ID, CustomerID and times already set).
	CreateOutdial(ctx context.Context, o *Outdial) error
	// GetOutdial returns the outdial with its target counts.
	GetOutdial(ctx context.Context, customerID, id string) (*Outdial, error)
	// ListOutdials returns the customer's outdials newest first, and the
	// cursor of the next page ("" on the last page).
	ListOutdials(ctx context.Context, customerID string, p Page) ([]*Outdial, string, error)
	// UpdateOutdial applies u and returns the outdial as stored afterwards.
	UpdateOutdial(ctx context.Context, customerID, id string, u *OutdialUpdate) (*Outdial, error)
	// DeleteOutdial removes the outdial and returns it as it was.
	DeleteOutdial(ctx context.Context, customerID, id string) (*Outdial, error)
}
