package httpapi

import (
	"net/http"
	"strconv"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
)

// jwks is GET /.well-known/jwks.json: the license keys a verifier should
// accept (next, active and retired keys, with their state and window
// members; never a revoked one), from the keyset the gateway caches. A next
// key is here for the signer's publish lead before it signs anything.
func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	ks, err := a.up.LicenseKeyset(r.Context(), "")
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	body, err := keys.JWKS(ks.Keys)
	if err != nil {
		writeError(w, fromRPC(a.log, r, err))
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	// Caches may keep the set as long as the gateway does: the publish lead
	// covers both.
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(a.up.KeysetTTL.Seconds())))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// licenseKID is the kid in the header of an RCV3_ license, or "".
func licenseKID(lic string) string {
	if lic == "" {
		return ""
	}
	kid, _ := license.KeyID(lic)
	return kid
}
