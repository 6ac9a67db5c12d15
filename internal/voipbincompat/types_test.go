package voipbincompat_test

// The types below are VoIPBIN's, written from the schemas of
// ../shared/reference/voipbin-outdials.openapi.yaml the way an OpenAPI
// generator types them (VoIPBIN's spec carries oapi-codegen's x-go-type and
// x-enum-varnames): a property a schema does not list as required is a
// pointer with omitempty, a required one is a plain value. Go names follow
// this repository's initialisms (ID, not Id); the JSON names are the
// contract. Responses are decoded with a plain json.Unmarshal, as a
// generated client does: unknown fields are ignored, a value of the wrong
// JSON type (data as an object, say) fails the decode.

// CommonAddressType is CommonAddress.type: "" (none), agent, conference,
// email, extension, line, sip, tel, web_session.
type CommonAddressType string

// CommonAddress is a source or destination address (schema CommonAddress).
type CommonAddress struct {
	Type       *CommonAddressType `json:"type,omitempty"`
	Target     *string            `json:"target,omitempty"`
	TargetName *string            `json:"target_name,omitempty"`
	Name       *string            `json:"name,omitempty"`
	Detail     *string            `json:"detail,omitempty"`
}

// OutdialManagerOutdial is an outdial (schema OutdialManagerOutdial).
type OutdialManagerOutdial struct {
	ID         *string `json:"id,omitempty"`
	CustomerID *string `json:"customer_id,omitempty"`
	CampaignID *string `json:"campaign_id,omitempty"`
	Name       *string `json:"name,omitempty"`
	Detail     *string `json:"detail,omitempty"`
	Data       *string `json:"data,omitempty"`
	TMCreate   *string `json:"tm_create,omitempty"`
	TMUpdate   *string `json:"tm_update,omitempty"`
	TMDelete   *string `json:"tm_delete,omitempty"`
}

// OutdialManagerOutdialtargetStatus is a target's status. VoIPBIN's enum
// is progressing, done, idle; Outdial keeps the seed's idle, dialing,
// finished, failed (issue 12), which a string type decodes all the same.
type OutdialManagerOutdialtargetStatus string

// OutdialManagerOutdialtarget is a target (schema
// OutdialManagerOutdialtarget).
type OutdialManagerOutdialtarget struct {
	ID           *string                            `json:"id,omitempty"`
	OutdialID    *string                            `json:"outdial_id,omitempty"`
	Name         *string                            `json:"name,omitempty"`
	Detail       *string                            `json:"detail,omitempty"`
	Data         *string                            `json:"data,omitempty"`
	Status       *OutdialManagerOutdialtargetStatus `json:"status,omitempty"`
	Destination0 *CommonAddress                     `json:"destination_0,omitempty"`
	Destination1 *CommonAddress                     `json:"destination_1,omitempty"`
	Destination2 *CommonAddress                     `json:"destination_2,omitempty"`
	Destination3 *CommonAddress                     `json:"destination_3,omitempty"`
	Destination4 *CommonAddress                     `json:"destination_4,omitempty"`
	TryCount0    *int                               `json:"try_count_0,omitempty"`
	TryCount1    *int                               `json:"try_count_1,omitempty"`
	TryCount2    *int                               `json:"try_count_2,omitempty"`
	TryCount3    *int                               `json:"try_count_3,omitempty"`
	TryCount4    *int                               `json:"try_count_4,omitempty"`
	TMCreate     *string                            `json:"tm_create,omitempty"`
	TMUpdate     *string                            `json:"tm_update,omitempty"`
	TMDelete     *string                            `json:"tm_delete,omitempty"`
}

// destinations returns the five destination slots in order.
func (t OutdialManagerOutdialtarget) destinations() [5]*CommonAddress {
	return [5]*CommonAddress{t.Destination0, t.Destination1, t.Destination2, t.Destination3, t.Destination4}
}

// tryCounts returns the five try counts in order.
func (t OutdialManagerOutdialtarget) tryCounts() [5]*int {
	return [5]*int{t.TryCount0, t.TryCount1, t.TryCount2, t.TryCount3, t.TryCount4}
}

// OutdialList is the answer of GET /outdials (CommonPagination with a
// result of outdials).
type OutdialList struct {
	NextPageToken *string                  `json:"next_page_token,omitempty"`
	Result        *[]OutdialManagerOutdial `json:"result,omitempty"`
}

// TargetList is the answer of GET /outdials/{id}/targets.
type TargetList struct {
	NextPageToken *string                        `json:"next_page_token,omitempty"`
	Result        *[]OutdialManagerOutdialtarget `json:"result,omitempty"`
}

// ErrorBodyStatus is the canonical status of an error.
type ErrorBodyStatus string

// ErrorBody is the body of an error (schema ErrorBody; every field but
// details is required).
type ErrorBody struct {
	Status    ErrorBodyStatus   `json:"status"`
	Reason    string            `json:"reason"`
	Message   string            `json:"message"`
	RequestID string            `json:"request_id"`
	Details   *[]map[string]any `json:"details,omitempty"`
}

// ErrorResponse is the error envelope (schema ErrorResponse).
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// Request bodies. VoIPBIN's spec marks every field of every request body
// required, so a generated client sends them all, empty or not.

// PostOutdialsJSONBody is the body of POST /outdials.
type PostOutdialsJSONBody struct {
	CampaignID string `json:"campaign_id"`
	Name       string `json:"name"`
	Detail     string `json:"detail"`
	Data       string `json:"data"`
}

// PutOutdialsIDJSONBody is the body of PUT /outdials/{id}.
type PutOutdialsIDJSONBody struct {
	Name   string `json:"name"`
	Detail string `json:"detail"`
}

// PutOutdialsIDCampaignIDJSONBody is the body of PUT
// /outdials/{id}/campaign_id.
type PutOutdialsIDCampaignIDJSONBody struct {
	CampaignID string `json:"campaign_id"`
}

// PutOutdialsIDDataJSONBody is the body of PUT /outdials/{id}/data.
type PutOutdialsIDDataJSONBody struct {
	Data string `json:"data"`
}

// PostOutdialsIDTargetsJSONBody is the body of POST
// /outdials/{id}/targets. An unused slot is the zero CommonAddress, which
// encodes as {}.
type PostOutdialsIDTargetsJSONBody struct {
	Name         string        `json:"name"`
	Detail       string        `json:"detail"`
	Data         string        `json:"data"`
	Destination0 CommonAddress `json:"destination_0"`
	Destination1 CommonAddress `json:"destination_1"`
	Destination2 CommonAddress `json:"destination_2"`
	Destination3 CommonAddress `json:"destination_3"`
	Destination4 CommonAddress `json:"destination_4"`
}

// ptr returns a pointer to v, as a generated client's callers write.
func ptr[T any](v T) *T { return &v }

// deref returns *p, or the zero value for nil.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// address is a filled-in CommonAddress of type typ.
func address(typ CommonAddressType, target string) CommonAddress {
	return CommonAddress{Type: &typ, Target: &target}
}
