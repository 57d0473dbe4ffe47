// Package workspace plays a stock self-managed workspace against the
// gateway: it sends exactly what PROTOCOL.md says a workspace sends and
// decodes what it expects back. Tests and the load generator use it.
package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultScopes are the scopes a stock workspace asks for.
const DefaultScopes = "workspace:license:read workspace:client:write workspace:stats:write workspace:push:send marketplace:read marketplace:download fedhub:register"

// Credentials is the 2b registration response.
type Credentials struct {
	WorkspaceID           string   `json:"workspaceId"`
	ClientName            string   `json:"client_name"`
	ClientID              string   `json:"client_id"`
	ClientSecret          string   `json:"client_secret"`
	ClientSecretExpiresAt int64    `json:"client_secret_expires_at"`
	RedirectURIs          []string `json:"redirect_uris"`
	PublicKey             string   `json:"publicKey"`
	RegistrationClientURI string   `json:"registration_client_uri"`
}

// AccessToken is the token response.
type AccessToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// SyncResponse is the sync response.
type SyncResponse struct {
	WorkspaceID           string          `json:"workspaceId"`
	PublicKey             string          `json:"publicKey"`
	License               string          `json:"license"`
	RemoveLicense         bool            `json:"removeLicense"`
	CloudSyncAnnouncement json.RawMessage `json:"cloudSyncAnnouncement"`
}

// RegistrationData is what a workspace says about itself.
type RegistrationData struct {
	UniqueID    string `json:"uniqueId"`
	WorkspaceID string `json:"workspaceId"`
	Address     string `json:"address"`
	SiteName    string `json:"siteName,omitempty"`
	Seats       int64  `json:"seats"`
	MAC         int64  `json:"MAC"`
	Version     string `json:"version"`
}

// Error is a non-2xx answer.
type Error struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
	Header      http.Header
	Body        string
}

func (e *Error) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Description)
}

// Client talks to one cloud base URL.
type Client struct {
	Base string
	HTTP *http.Client
}

// New returns a client of base.
func New(base string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{}}
}

// Do sends a request and decodes a 2xx JSON answer into out, or returns *Error.
func (c *Client) Do(ctx context.Context, method, path, bearer, contentType string, body io.Reader, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}
		_ = json.Unmarshal(raw, e)
		return resp, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp, fmt.Errorf("decode %s %s: %w (body %q)", method, path, err, raw)
		}
	}
	return resp, nil
}

// Register is "Use Token" (PROTOCOL.md 2b).
func (c *Client) Register(ctx context.Context, token, email, clientName string) (Credentials, error) {
	body, _ := json.Marshal(map[string]any{"email": email, "client_name": clientName, "redirect_uris": []string{}})
	var creds Credentials
	_, err := c.Do(ctx, http.MethodPost, "/api/oauth/clients", token, "application/json", bytes.NewReader(body), &creds)
	return creds, err
}

// Token is the client-credentials grant (PROTOCOL.md 3).
func (c *Client) Token(ctx context.Context, clientID, clientSecret, scope string) (AccessToken, error) {
	form := url.Values{"client_id": {clientID}, "client_secret": {clientSecret}, "scope": {scope}, "grant_type": {"client_credentials"}, "redirect_uri": {""}}
	var tok AccessToken
	_, err := c.Do(ctx, http.MethodPost, "/api/oauth/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), &tok)
	return tok, err
}

// Sync is PROTOCOL.md 4, at the workspace URL from registration.
func (c *Client) Sync(ctx context.Context, workspaceID, accessToken string, data RegistrationData) (SyncResponse, error) {
	body, _ := json.Marshal(data)
	var out SyncResponse
	_, err := c.Do(ctx, http.MethodPost, "/api/v2/workspaces/"+workspaceID+"/sync", accessToken, "application/json", bytes.NewReader(body), &out)
	return out, err
}

// LegacySyncResponse is the legacy sync response (POST WS/client).
type LegacySyncResponse struct {
	WorkspaceID   string          `json:"workspaceId"`
	PublicKey     string          `json:"publicKey"`
	Trial         *Trial          `json:"trial"`
	NPS           *NPS            `json:"nps"`
	Banners       json.RawMessage `json:"banners"`
	Announcements *Announcements  `json:"announcements"`
}

// Trial is legacy sync's description of a running trial.
type Trial struct {
	Trialing  bool   `json:"trialing"`
	TrialID   string `json:"trialID"`
	EndDate   string `json:"endDate"`
	Marketing struct {
		UTMContent  string `json:"utmContent"`
		UTMMedium   string `json:"utmMedium"`
		UTMSource   string `json:"utmSource"`
		UTMCampaign string `json:"utmCampaign"`
	} `json:"marketing"`
	DowngradesToPlan struct {
		ID string `json:"id"`
	} `json:"DowngradesToPlan"`
	TrialRequested bool `json:"trialRequested"`
}

// NPS is the survey a workspace may show.
type NPS struct {
	ID       string `json:"id"`
	StartAt  string `json:"startAt"`
	ExpireAt string `json:"expireAt"`
}

// Announcements are what a workspace shows (create) and drops (delete).
type Announcements struct {
	Create []Announcement `json:"create"`
	Delete []string       `json:"delete"`
}

// Announcement is one announcement as a workspace stores it.
type Announcement struct {
	ID        string `json:"_id"`
	UpdatedAt string `json:"_updatedAt"`
	Selector  struct {
		Roles []string `json:"roles"`
	} `json:"selector"`
	Platform   []string        `json:"platform"`
	ExpireAt   string          `json:"expireAt"`
	StartAt    string          `json:"startAt"`
	CreatedBy  string          `json:"createdBy"`
	CreatedAt  string          `json:"createdAt"`
	Dictionary json.RawMessage `json:"dictionary"`
	View       json.RawMessage `json:"view"`
	Surface    string          `json:"surface"`
}

// CommsResponse is the comms response.
type CommsResponse struct {
	NPS           *NPS           `json:"nps"`
	Announcements *Announcements `json:"announcements"`
}

// LicenseData is the legacy license fetch's answer.
type LicenseData struct {
	Version   int     `json:"version"`
	Address   string  `json:"address"`
	License   string  `json:"license"`
	UpdatedAt string  `json:"updatedAt"`
	Modules   string  `json:"modules"`
	ExpireAt  *string `json:"expireAt"`
}

// LegacySync is the older workspaces' sync (PROTOCOL.md 4, POST WS/client).
func (c *Client) LegacySync(ctx context.Context, workspaceID, accessToken string, data RegistrationData) (LegacySyncResponse, error) {
	body, _ := json.Marshal(data)
	var out LegacySyncResponse
	_, err := c.Do(ctx, http.MethodPost, "/api/v2/workspaces/"+workspaceID+"/client", accessToken, "application/json", bytes.NewReader(body), &out)
	return out, err
}

// License is the legacy license fetch (GET WS/license?version=3).
func (c *Client) License(ctx context.Context, workspaceID, accessToken string) (LicenseData, error) {
	var out LicenseData
	_, err := c.Do(ctx, http.MethodGet, "/api/v2/workspaces/"+workspaceID+"/license?version=3", accessToken, "", nil, &out)
	return out, err
}

// Comms fetches announcements (PROTOCOL.md 5).
func (c *Client) Comms(ctx context.Context, accessToken string, data RegistrationData) (CommsResponse, error) {
	body, _ := json.Marshal(data)
	var out CommsResponse
	_, err := c.Do(ctx, http.MethodPost, "/api/v3/comms/workspace", accessToken, "application/json", bytes.NewReader(body), &out)
	return out, err
}

// Downgrade is "Cancel Subscription" (PROTOCOL.md 6); the stock client sends
// no body.
func (c *Client) Downgrade(ctx context.Context, workspaceID, accessToken string) error {
	var out struct {
		Success bool `json:"success"`
	}
	_, err := c.Do(ctx, http.MethodPost, "/api/v2/workspaces/"+workspaceID+"/client/downgrade", accessToken, "", nil, &out)
	if err == nil && !out.Success {
		return fmt.Errorf("downgrade answered success=false")
	}
	return err
}
