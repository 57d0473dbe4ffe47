package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/rpcerr"
)

// env is what a command runs with: its streams, its parsed connection
// settings and, once asked for, the API client.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	name           string
	output         string
	conn           client.Config
	client         *client.Client
}

// flags returns a flag set with the connection and output flags.
func (e *env) flags(withConn bool) *flag.FlagSet {
	fs := flag.NewFlagSet("licensectl "+e.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&e.output, "o", "table", "output: table or json")
	if withConn {
		e.conn = client.Defaults
		fs.StringVar(&e.conn.APIKey, "api-key", os.Getenv("LICENSING_ADMIN_KEY"), "API key (env LICENSING_ADMIN_KEY)")
		fs.StringVar(&e.conn.RegistryAddr, "registry", envOr("LICENSING_REGISTRY_ADDR", e.conn.RegistryAddr), "registry address")
		fs.StringVar(&e.conn.TokensAddr, "tokens", envOr("LICENSING_TOKENS_ADDR", e.conn.TokensAddr), "tokens address")
		fs.StringVar(&e.conn.SignerAddr, "signer", envOr("LICENSING_SIGNER_ADDR", e.conn.SignerAddr), "signer address")
		fs.StringVar(&e.conn.SyncAddr, "sync", envOr("LICENSING_SYNC_ADDR", e.conn.SyncAddr), "sync address")
	}
	return fs
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parse parses args and checks the output flag.
func (e *env) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	if e.output != "table" && e.output != "json" {
		return usageError{fmt.Sprintf("-o must be table or json, not %q", e.output)}
	}
	return nil
}

// argAndAPI parses a command that takes one argument (what names it) and
// returns the argument and the client.
func (e *env) argAndAPI(fs *flag.FlagSet, args []string, what string) (string, *client.Client, error) {
	if err := e.parse(fs, args); err != nil {
		return "", nil, err
	}
	arg, err := oneArg(fs.Args(), what)
	if err != nil {
		return "", nil, err
	}
	c, err := e.api()
	return arg, c, err
}

// api returns the client, connecting on first use.
func (e *env) api() (*client.Client, error) {
	if e.client != nil {
		return e.client, nil
	}
	if e.conn.APIKey == "" {
		return nil, usageError{"no API key: set LICENSING_ADMIN_KEY or pass -api-key"}
	}
	c, err := client.New(e.conn)
	if err != nil {
		return nil, err
	}
	e.client = c
	return c, nil
}

// print writes v as JSON, or rows as a table.
func (e *env) print(v any, header []string, rows [][]string) error {
	if m, ok := v.(proto.Message); ok && e.output == "json" {
		b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, string(b))
		return err
	}
	if e.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// describe turns an API error into a line for a person.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Code().String() + ": " + st.Message()
	if r := rpcerr.Reason(err); r != "" {
		msg += " (" + r + ")"
	}
	for _, f := range rpcerr.Fields(err) {
		msg += "\n  " + f.Field + ": " + f.Description
	}
	return msg
}
