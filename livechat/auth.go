package livechat

import (
	"encoding/base64"
	"strings"

	"go.uber.org/zap/zapcore"
)

// Auth holds the credentials sent with every request.
//
// With AccountID set it is a personal access token (PAT), sent as
// `Authorization: Basic base64(account_id:token)`; without it, Token is an
// OAuth access token ("dal:..." or "fra:...") or a bot token, sent as
// `Authorization: Bearer <token>`. See
// https://platform.text.com/docs/authorization/personal-access-tokens
//
// Auth never prints or logs its token: String and MarshalLogObject redact it.
type Auth struct {
	AccountID string
	Token     string
}

// PAT returns the credentials of a personal access token created by the
// account accountID.
func PAT(accountID, token string) Auth { return Auth{AccountID: accountID, Token: token} }

// Bearer returns the credentials of an OAuth access token ("dal:..." /
// "fra:...") or a bot token.
func Bearer(token string) Auth { return Auth{Token: token} }

// IsZero reports whether a has no token.
func (a Auth) IsZero() bool { return a.Token == "" }

// Region returns "fra" for tokens that start with "fra:" (the EU data
// center), else "" (the default data center, dal).
func (a Auth) Region() string {
	if strings.HasPrefix(a.Token, "fra:") {
		return "fra"
	}
	return ""
}

// header is the value of the Authorization header.
func (a Auth) header() string {
	if a.AccountID != "" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.AccountID+":"+a.Token))
	}
	return "Bearer " + a.Token
}

func (a Auth) kind() string {
	if a.AccountID != "" {
		return "pat"
	}
	return "bearer"
}

// String describes the credentials without the token.
func (a Auth) String() string {
	if a.AccountID != "" {
		return "livechat PAT of account " + a.AccountID
	}
	return "livechat bearer token"
}

// GoString is String, so %#v does not print the token either.
func (a Auth) GoString() string { return a.String() }

// MarshalLogObject logs the kind and account, never the token.
func (a Auth) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("kind", a.kind())
	if a.AccountID != "" {
		enc.AddString("account_id", a.AccountID)
	}
	if r := a.Region(); r != "" {
		enc.AddString("region", r)
	}
	return nil
}
