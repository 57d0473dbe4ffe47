package translog

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
)

// LogID names this log in every tree head, so a signature over another
// document made with the same key cannot pass for one.
const LogID = "licensing-issuance-log/v1"

// TreeHead is the state of the log at one size.
type TreeHead struct {
	Size     uint64
	RootHash []byte
	// Timestamp is when the head was signed, in milliseconds.
	Timestamp time.Time
}

// SignedTreeHead is a tree head and its signature: a compact RS256 JWS
// whose header names the signing key (kid) and whose payload is the head.
type SignedTreeHead struct {
	TreeHead
	KeyID string
	JWS   string
}

// treeHeadClaims is the signed payload.
type treeHeadClaims struct {
	Log       string `json:"log"`
	TreeSize  uint64 `json:"treeSize"`
	RootHash  []byte `json:"rootHash"` // standard base64
	Timestamp int64  `json:"timestamp"`
}

// ErrTreeHead reports a tree head that is malformed or not validly signed.
var ErrTreeHead = errors.New("translog: bad signed tree head")

// SignTreeHead signs h with the key (kid names it in the header).
func SignTreeHead(h TreeHead, signer crypto.Signer, kid string) (SignedTreeHead, error) {
	if len(h.RootHash) != HashSize {
		return SignedTreeHead{}, fmt.Errorf("%w: root hash has %d bytes", ErrTreeHead, len(h.RootHash))
	}
	h.Timestamp = h.Timestamp.UTC().Truncate(time.Millisecond)
	payload, err := json.Marshal(treeHeadClaims{Log: LogID, TreeSize: h.Size, RootHash: h.RootHash, Timestamp: h.Timestamp.UnixMilli()})
	if err != nil {
		return SignedTreeHead{}, err
	}
	token, err := jws.Sign(signer, kid, payload)
	if err != nil {
		return SignedTreeHead{}, fmt.Errorf("sign tree head: %w", err)
	}
	return SignedTreeHead{TreeHead: h, KeyID: kid, JWS: token}, nil
}

// VerifyTreeHead checks the signature of a tree head with the key keyFor
// returns for its kid and returns the head it signs. Only what it returns
// is trusted: fields that travel beside the JWS are not.
func VerifyTreeHead(token string, keyFor jws.KeyFunc) (SignedTreeHead, error) {
	hdr, payload, err := jws.Verify(token, keyFor)
	if err != nil {
		return SignedTreeHead{}, fmt.Errorf("%w: %w", ErrTreeHead, err)
	}
	var c treeHeadClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return SignedTreeHead{}, fmt.Errorf("%w: payload: %w", ErrTreeHead, err)
	}
	if c.Log != LogID {
		return SignedTreeHead{}, fmt.Errorf("%w: log %q, want %q", ErrTreeHead, c.Log, LogID)
	}
	if len(c.RootHash) != HashSize {
		return SignedTreeHead{}, fmt.Errorf("%w: root hash has %d bytes", ErrTreeHead, len(c.RootHash))
	}
	return SignedTreeHead{
		TreeHead: TreeHead{Size: c.TreeSize, RootHash: c.RootHash, Timestamp: time.UnixMilli(c.Timestamp).UTC()},
		KeyID:    hdr.Kid, JWS: token,
	}, nil
}
