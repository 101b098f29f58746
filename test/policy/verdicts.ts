// test/policy/verdicts.ts — the verdicts the policy issue demands for its example model
// (test/fixtures/policy/issue-example). Used by the check() unit test and, with real
// traffic through real iptables/ipsets, by test/lab/policy.test.ts.
export interface Verdict {
  readonly from: 'world' | 'dmz' | 'app' | 'backend';
  readonly to: 'dmz' | 'app' | 'backend';
  readonly traffic: `tcp/${number}`;
  readonly verdict: 'allow' | 'deny';
}

export const ISSUE_VERDICTS: readonly Verdict[] = [
  { from: 'world', to: 'dmz', traffic: 'tcp/80', verdict: 'allow' },
  { from: 'dmz', to: 'app', traffic: 'tcp/8080', verdict: 'allow' },
  { from: 'dmz', to: 'app', traffic: 'tcp/22', verdict: 'deny' },
  { from: 'app', to: 'backend', traffic: 'tcp/5432', verdict: 'allow' },
  { from: 'dmz', to: 'backend', traffic: 'tcp/5432', verdict: 'deny' },
  { from: 'dmz', to: 'backend', traffic: 'tcp/22', verdict: 'deny' },
  { from: 'world', to: 'backend', traffic: 'tcp/5432', verdict: 'deny' },
  { from: 'world', to: 'app', traffic: 'tcp/8080', verdict: 'deny' },
];
