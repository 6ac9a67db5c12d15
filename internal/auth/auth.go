// Package auth mints and verifies the service's bearer tokens (HS256 JWTs
// carrying customer_id, exp and optionally iat) and implements the API
// Gateway HTTP API Lambda authorizer that checks them.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DevSecret is the signing secret `make run` uses when OUTDIAL_TOKEN_SECRET
// is unset. It is public: never deploy with it (the template has no default).
const DevSecret = "outdial-local-development-secret-do-not-deploy"

// MinSecretLen is the shortest signing secret accepted.
const MinSecretLen = 32

// DefaultMaxLifetime is the longest a token may be valid for unless the
// deployment sets another maximum (the template's MaxTokenLifetimeSeconds).
const DefaultMaxLifetime = 30 * 24 * time.Hour

// leeway is the clock skew allowed around exp, nbf and the lifetime.
const leeway = 30 * time.Second

// Claims are the JWT claims Mint writes (and tests sign). Verify reads the
// claims by their exact names, not through this struct: encoding/json
// would also match CUSTOMER_ID or EXP to its fields.
type Claims struct {
	CustomerID string `json:"customer_id"`
	jwt.RegisteredClaims
}

// Verifier checks tokens against the current secret and, during a
// rotation, the previous one.
type Verifier struct {
	secrets     [][]byte
	maxLifetime time.Duration
	now         func() time.Time
}

// NewVerifier returns a Verifier for secret and any previous secrets still
// accepted (empty ones are ignored).
func NewVerifier(secret string, previous ...string) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("token secret must be at least %d bytes", MinSecretLen)
	}
	v := &Verifier{secrets: [][]byte{[]byte(secret)}, maxLifetime: DefaultMaxLifetime, now: time.Now}
	for _, p := range previous {
		if p != "" {
			v.secrets = append(v.secrets, []byte(p))
		}
	}
	return v, nil
}

// WithMaxLifetime returns a copy of v that denies tokens valid for longer
// than d (positive); the default is DefaultMaxLifetime.
func (v *Verifier) WithMaxLifetime(d time.Duration) *Verifier {
	c := *v
	c.maxLifetime = d
	return &c
}

// Verify returns the customer id of a valid token. Only HS256 is accepted;
// the header and claims must be unambiguous JSON (see checkStrict); exp is
// required; customer_id must be a UUID; the token may not be valid for
// longer than the maximum lifetime (see checkLifetime).
func (v *Verifier) Verify(token string) (string, error) {
	if err := checkStrict(token); err != nil {
		return "", err
	}
	var lastErr error
	for _, secret := range v.secrets {
		c := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return secret, nil },
			jwt.WithValidMethods([]string{"HS256"}),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(v.now),
			jwt.WithLeeway(leeway),
		)
		if err != nil {
			lastErr = err
			if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				continue // maybe signed with the previous secret
			}
			return "", err
		}
		if err := v.checkLifetime(c); err != nil {
			return "", err
		}
		customerID, _ := c["customer_id"].(string)
		id, err := uuid.Parse(customerID)
		if err != nil || len(customerID) != 36 {
			return "", errors.New("token: customer_id is not a UUID")
		}
		return id.String(), nil
	}
	return "", lastErr
}

// checkLifetime denies a token valid for longer than the maximum: exp − iat
// when it has iat, and always exp − now (with the leeway for clock skew),
// so that an iat set in the future cannot stretch a token's life.
func (v *Verifier) checkLifetime(c jwt.MapClaims) error {
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		return errors.New("token: exp is missing or invalid")
	}
	iat, err := c.GetIssuedAt()
	if err != nil {
		return errors.New("token: iat is invalid")
	}
	tooLong := exp.Sub(v.now()) > v.maxLifetime+leeway
	if iat != nil && exp.Sub(iat.Time) > v.maxLifetime {
		tooLong = true
	}
	if tooLong {
		return fmt.Errorf("token: valid for longer than the maximum lifetime of %s", v.maxLifetime)
	}
	return nil
}

// Mint returns a token for customerID valid for ttl, signed with secret
// (at least MinSecretLen bytes). It carries iat, so its lifetime is ttl.
func Mint(secret, customerID string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("token secret must be at least %d bytes", MinSecretLen)
	}
	if _, err := uuid.Parse(customerID); err != nil {
		return "", fmt.Errorf("customer id %q is not a UUID", customerID)
	}
	c := Claims{
		CustomerID: customerID,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

// TokenFrom returns the token of a request: "Authorization: Bearer <t>"
// first, else the query parameter token (the seed's ?token=), else
// accesskey (what VoIPBIN's SDK sends: ?accesskey=).
func TokenFrom(headers, query map[string]string) string {
	for k, v := range headers {
		if strings.EqualFold(k, "authorization") {
			scheme, t, ok := strings.Cut(strings.TrimSpace(v), " ")
			if ok && strings.EqualFold(scheme, "bearer") {
				return strings.TrimSpace(t)
			}
		}
	}
	if t := query["token"]; t != "" {
		return t
	}
	return query["accesskey"]
}

// Authorizer is the HTTP API Lambda authorizer (payload 2.0, simple
// responses). It allows a request only with a valid token and passes the
// token's customer_id to the handlers in the authorizer context.
type Authorizer struct {
	Verifier *Verifier
	Log      *slog.Logger
}

// Handle is the Lambda entry point.
func (a *Authorizer) Handle(ctx context.Context, req events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	token := TokenFrom(req.Headers, req.QueryStringParameters)
	if token == "" {
		a.Log.InfoContext(ctx, "denied: no token", "route", req.RouteKey)
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
	}
	customerID, err := a.Verifier.Verify(token)
	if err != nil {
		// The error text never contains the token itself.
		a.Log.InfoContext(ctx, "denied: invalid token", "route", req.RouteKey, "reason", err.Error())
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
	}
	return events.APIGatewayV2CustomAuthorizerSimpleResponse{
		IsAuthorized: true,
		Context:      map[string]any{"customer_id": customerID},
	}, nil
}
