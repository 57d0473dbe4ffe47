package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/keys"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
)

// keysetFlag adds -keyset to a keys command; keyset returns the client of
// the keyset it names.
func keysetFlag(fs *flag.FlagSet) *string {
	return fs.String("keyset", "license", "which keyset: license (the signer's: licenses, supported versions) or access-token (the token service's)")
}

func (e *env) keyset(name string) (keysv1.KeyServiceClient, error) {
	c, err := e.api()
	if err != nil {
		return nil, err
	}
	switch name {
	case "license":
		return c.Keys, nil
	case "access-token":
		return c.AccessTokenKeys, nil
	}
	return nil, usageError{fmt.Sprintf("-keyset must be license or access-token, not %q", name)}
}

var keyHeader = []string{"KID", "STATE", "CREATED", "SIGNS FROM", "SIGNED UNTIL", "VERIFIES UNTIL", "BACKEND"}

func keyRow(k *keysv1.SigningKey) []string {
	if k == nil {
		return []string{"-", "-", "-", "-", "-", "-", "-"}
	}
	state := k.GetState()
	if k.GetRevokedReason() != "" {
		state += " (" + k.GetRevokedReason() + ")"
	}
	return []string{k.GetKid(), state, ts(k.GetCreatedAt()), ts(k.GetNotBefore()), ts(k.GetRetiredAt()), ts(k.GetNotAfter()), k.GetBackend()}
}

func keysList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	set := keysetFlag(fs)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.keyset(*set)
	if err != nil {
		return err
	}
	resp, err := c.ListKeys(ctx, &keysv1.ListKeysRequest{})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, k := range resp.GetKeys() {
		rows = append(rows, keyRow(k))
	}
	return e.print(resp, keyHeader, rows)
}

func keysRotate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	force := fs.Bool("force", false, "promote the next key even if it was published for less than the service's KEYSET_PUBLISH_LEAD")
	set := keysetFlag(fs)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.keyset(*set)
	if err != nil {
		return err
	}
	resp, err := c.RotateKeys(ctx, &keysv1.RotateKeysRequest{Force: *force})
	if err != nil {
		return err
	}
	return e.print(resp, keyHeader, [][]string{keyRow(resp.GetActive()), keyRow(resp.GetRetired()), keyRow(resp.GetNext())})
}

func keysImport(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	activate := fs.Bool("activate", false, "sign with the key at once (the active key retires); default: publish it as the next key")
	set := keysetFlag(fs)
	file, _, err := e.argAndAPI(fs, args, "FILE (an RSA private key, PEM: PKCS#1 or PKCS#8)")
	if err != nil {
		return err
	}
	c, err := e.keyset(*set)
	if err != nil {
		return err
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	resp, err := c.ImportKey(ctx, &keysv1.ImportKeyRequest{PrivateKeyPem: string(pemBytes), Activate: *activate})
	if err != nil {
		return err
	}
	return e.print(resp, keyHeader, [][]string{keyRow(resp.GetKey())})
}

func keysRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	reason := fs.String("reason", "", "why the key is revoked (required)")
	set := keysetFlag(fs)
	kid, _, err := e.argAndAPI(fs, args, "KID")
	if err != nil {
		return err
	}
	c, err := e.keyset(*set)
	if err != nil {
		return err
	}
	resp, err := c.RevokeKey(ctx, &keysv1.RevokeKeyRequest{Kid: kid, Reason: *reason})
	if err != nil {
		return err
	}
	rows := [][]string{keyRow(resp.GetKey())}
	if resp.GetActive() != nil {
		rows = append(rows, keyRow(resp.GetActive()))
	}
	return e.print(resp, keyHeader, rows)
}

// keysExport writes the whole keyset, revoked keys included, as a JWKS with
// state and window members: what `licensectl verify -keys` reads offline.
func keysExport(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	out := fs.String("out", "", "write to this file instead of standard output")
	set := keysetFlag(fs)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.keyset(*set)
	if err != nil {
		return err
	}
	resp, err := c.ListKeys(ctx, &keysv1.ListKeysRequest{})
	if err != nil {
		return err
	}
	var pubs []keys.PublicKey
	for _, k := range resp.GetKeys() {
		p, err := publicKeyOf(k)
		if err != nil {
			return err
		}
		pubs = append(pubs, p)
	}
	b, err := keys.JWKS(pubs)
	if err != nil {
		return err
	}
	if *out != "" {
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	_, err = fmt.Fprintln(e.stdout, string(b))
	return err
}

func publicKeyOf(k *keysv1.SigningKey) (keys.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(k.GetSpkiDer())
	if err != nil {
		return keys.PublicKey{}, fmt.Errorf("key %s: %w", k.GetKid(), err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return keys.PublicKey{}, fmt.Errorf("key %s is not RSA", k.GetKid())
	}
	st, err := keys.ParseState(k.GetState())
	if err != nil {
		return keys.PublicKey{}, err
	}
	t := func(ts *timestamppb.Timestamp) time.Time {
		if ts == nil {
			return time.Time{}
		}
		return ts.AsTime()
	}
	return keys.PublicKey{ID: k.GetKid(), Algorithm: k.GetAlgorithm(), Key: rsaPub, State: st,
		NotBefore: t(k.GetNotBefore()), RetiredAt: t(k.GetRetiredAt()), NotAfter: t(k.GetNotAfter())}, nil
}

var resignHeader = []string{"JOB", "TARGET KID", "STATE", "VISITED", "TOTAL", "RE-SIGNED", "UPDATED"}

func resignRow(j *keysv1.ResignJob) []string {
	return []string{j.GetId(), j.GetTargetKid(), j.GetState(), fmt.Sprint(j.GetVisited()), fmt.Sprint(j.GetTotal()),
		fmt.Sprint(j.GetResigned()), ts(j.GetUpdatedAt())}
}

func keysResign(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	wait := fs.Bool("wait", false, "wait for the job to finish, printing its progress")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Keys.StartResign(ctx, &keysv1.StartResignRequest{})
	if err != nil {
		return err
	}
	job := resp.GetJob()
	for *wait && job.GetState() == "running" {
		fmt.Fprintf(e.stderr, "re-sign %s: %d/%d workspaces visited, %d licenses re-signed\n", job.GetId(), job.GetVisited(), job.GetTotal(), job.GetResigned())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		got, err := c.Keys.GetResignJob(ctx, &keysv1.GetResignJobRequest{Id: job.GetId()})
		if err != nil {
			return err
		}
		job = got.GetJob()
	}
	return e.print(job, resignHeader, [][]string{resignRow(job)})
}

func keysResignStatus(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "JOB (the id keys resign printed)")
	if err != nil {
		return err
	}
	resp, err := c.Keys.GetResignJob(ctx, &keysv1.GetResignJobRequest{Id: id})
	if err != nil {
		return err
	}
	return e.print(resp.GetJob(), resignHeader, [][]string{resignRow(resp.GetJob())})
}
