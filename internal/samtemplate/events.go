package samtemplate

import "path/filepath"

// Placeholders in the sample events under events/.
const (
	// TokenPlaceholder stands for the customer token in the sample events'
	// "authorization: Bearer <token>" header; replace it with a minted
	// token to invoke the authorizer with a valid request.
	TokenPlaceholder = "<token>"
	// EventCustomerID is the customer the sample HTTP events carry in
	// requestContext.authorizer.lambda.customer_id.
	EventCustomerID = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
	// EventOutdialID is the {id} of the sample events of /v1.0/outdials/{id}
	// routes.
	EventOutdialID = "018f6b2e-8c1a-7d3e-9f00-123456789abc"
)

// EventPath returns the path of the sample event of the function called
// functionName: <repoRoot>/events/<functionName>.json. `sam local invoke
// -e` and the handler tests use these files: an APIGatewayV2HTTPRequest
// for an HTTP function, an APIGatewayV2CustomAuthorizerV2Request for the
// authorizer.
func EventPath(repoRoot, functionName string) string {
	return filepath.Join(repoRoot, "events", functionName+".json")
}
