// Command licensectl is the admin's and operator's hand on the license
// authority's internal gRPC APIs, and an offline verifier of license files.
//
// Connection settings come from flags or the environment:
// LICENSING_ADMIN_KEY (the API key), LICENSING_REGISTRY_ADDR,
// LICENSING_TOKENS_ADDR, LICENSING_SIGNER_ADDR, LICENSING_SYNC_ADDR.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// command is one leaf of the command tree.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// commands maps "group verb" (or a bare verb) to its command.
var commands = map[string]command{
	"customers create":       {"create a customer (organization)", customersCreate},
	"customers get":          {"show a customer", customersGet},
	"tokens create":          {"create a registration token for a customer, optionally bound to a plan", tokensCreate},
	"tokens revoke":          {"revoke a registration token", tokensRevoke},
	"apikeys create":         {"create an internal API key with a role", apikeysCreate},
	"workspaces get":         {"show a workspace", workspacesGet},
	"workspaces list":        {"list workspaces, optionally of one customer", workspacesList},
	"plans list":             {"list plans", plansList},
	"licenses list":          {"list a workspace's licenses, newest first", licensesList},
	"sync get":               {"show a workspace's sync view", syncGet},
	"keys public":            {"print the license public key (PEM, or the PUBLIC_LICENSE_KEY_V2 value with -v2)", keysPublic},
	"license verify":         {"verify a license file offline with the public key alone", licenseVerify},
	"verify":                 {"verify a license or supported-versions document offline against a keyset and explain what was found", verifyArtifact},
	"keys list":              {"list the license signing keyset: states and windows", keysList},
	"keys rotate":            {"promote the next key to active, retire the active key, publish a new next key", keysRotate},
	"keys import":            {"import an RSA private key (FILE, PEM) as the next key, or as the active key with -activate", keysImport},
	"keys revoke":            {"revoke a key (-reason required): nothing it signed verifies any more", keysRevoke},
	"keys export":            {"write the keyset as a JWKS with states and windows, for verify -keys", keysExport},
	"keys resign":            {"start re-signing every current license with the active key (-wait: follow it)", keysResign},
	"keys resign-status":     {"show a re-sign job's progress", keysResignStatus},
	"announcements create":   {"create an announcement for all workspaces, a plan's, or given ones", announcementsCreate},
	"announcements withdraw": {"withdraw an announcement (workspaces are told to delete it)", announcementsWithdraw},
	"announcements list":     {"list live announcements (-all: also withdrawn and expired)", announcementsList},

	"plans get":               {"show a plan (-version N for an older one, -export for a plan file to edit)", plansGet},
	"plans create":            {"create a plan from a plan file (-f FILE)", plansCreate},
	"plans update":            {"publish the next version of a plan from a plan file (-f FILE)", plansUpdate},
	"subscriptions get":       {"show a workspace's entitlement: plan, limits, trial, period, support", subscriptionsGet},
	"subscriptions grant":     {"grant or change a paid subscription (plan, seats and limits, period, auto-renew)", subscriptionsGrant},
	"subscriptions renew":     {"extend a paid subscription's period", subscriptionsRenew},
	"subscriptions cancel":    {"cancel a subscription now or at its period end (falls back to the free plan)", subscriptionsCancel},
	"subscriptions suspend":   {"withdraw a workspace's license until reinstated", subscriptionsSuspend},
	"subscriptions reinstate": {"end a suspension and issue a new license", subscriptionsReinstate},
	"trial start":             {"start a trial of a paid plan (30 days unless the plan says otherwise)", trialStart},
	"trial extend":            {"move a running trial's end later", trialExtend},
	"trial convert":           {"turn a running trial into the paid subscription (a purchase)", trialConvert},
	"cancel":                  {"cancel a workspace's subscription (same as subscriptions cancel)", subscriptionsCancel},
	"history":                 {"list a workspace's license history, newest first", licenseHistory},
	"offline issue":           {"issue an offline license for a workspace; write it to -o FILE or print it", offlineIssue},
	"usage get":               {"show a workspace's latest usage and its history beside its license limits", usageGet},
	"usage over-limit":        {"list the workspaces whose latest usage exceeds their license", usageOverLimit},

	"tokens get":            {"show a registration token with its use count", tokensGet},
	"tokens list":           {"list registration tokens with their use counts, optionally of one customer", tokensList},
	"workspaces deregister": {"deregister a workspace: revoke its credentials, remove its license on sync", workspacesDeregister},
	"register-offline":      {"register an air-gapped workspace from its client key (FILE or -) and print the cloud blob", registerOffline},

	"watch": {"print the views a filter selects, then every change as it comes (reconnects and resumes by itself)", watchViews},

	"releases list":   {"list workspace releases and until when each is supported", releasesList},
	"releases record": {"record a release (-version V -released DATE [-months N]) or change its date or support window", releasesRecord},

	"log head":          {"show the issuance log's latest signed tree head (or -size N), signature checked", logHead},
	"log proof":         {"prove a license (WORKSPACE SEQUENCE) or leaf (-leaf-hash) is in the issuance log; -bundle FILE writes the proof", logProof},
	"log consistency":   {"prove the issuance log of -first N leaves is a prefix of the one of -second M (default: latest)", logConsistency},
	"log audit":         {"fetch every issuance log entry and check that they rebuild the signed root", logAudit},
	"log verify":        {"check offline that a license file was logged, with its proof bundle (-bundle FILE) and the public key", logVerify},
	"versions policy":   {"show the version policy, or change the default window (-default-months N) and enforcement (-enforce-from DATE | -never-enforce)", versionsPolicy},
	"versions check":    {"say whether a version is supported now (-version V [-workspace WS] [-customer cus_...])", versionsCheck},
	"exceptions add":    {"extend a release line's support for a customer or a license (-customer cus_... | -license lic_...) -version 7.1 -until DATE", exceptionsAdd},
	"exceptions list":   {"list the version exceptions in force (-all: also removed) [-customer cus_...]", exceptionsList},
	"exceptions remove": {"end a version exception now", exceptionsRemove},
}

// usageError is an error in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	name, rest := args[0], args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		if _, ok := commands[args[0]+" "+rest[0]]; ok {
			name, rest = args[0]+" "+rest[0], rest[1:]
		}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "licensectl: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		usage(stderr)
		return 2
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, name: name}
	err := cmd.run(ctx, e, rest)
	if e.client != nil {
		_ = e.client.Close()
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "licensectl %s: %s\n", name, ue.msg)
		return 2
	default:
		fmt.Fprintf(stderr, "licensectl %s: %s\n", name, describe(err))
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "licensectl: manage the license authority and verify licenses.")
	fmt.Fprintln(w, "\nUsage: licensectl <group> <verb> [flags]   (licensectl <group> <verb> -h for flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-24s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nEnvironment: LICENSING_ADMIN_KEY, LICENSING_REGISTRY_ADDR, LICENSING_TOKENS_ADDR, LICENSING_SIGNER_ADDR, LICENSING_SYNC_ADDR")
}
