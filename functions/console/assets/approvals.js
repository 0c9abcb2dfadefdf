// The approvals pages: tool calls that the tenant's policies hold for a person. An admin sees
// each call's agent, tool, arguments and the policies that asked, and approves or denies it
// (never their own: the API refuses); the caller sees where their call stands and how to run it
// once approved. An MCP client's user is sent to the page of their call (a URL elicitation).

import { api, listAll, may, me } from './api.js';
import { actionButton, announce, badge, facts, h, json, link, problemBox, render, table, when } from './ui.js';

const enc = encodeURIComponent;

/** `/console/approvals`: pending calls first, then the rest (admins: the tenant's; members: theirs). */
export async function approvalsPage() {
  const approvals = await listAll('/approvals');
  const pending = approvals.filter((a) => a.status === 'pending');
  const decided = approvals.filter((a) => a.status !== 'pending').reverse();
  const columns = [
    ['Tool', (a) => link(`/approvals/${enc(a.id)}`, a.name)],
    ['Asked by', (a) => a.requested_by],
    ['Asked', (a) => when(a.requested_at)],
    ['Status', (a) => badge(a.status)],
    ['Expires', (a) => when(a.expires_at)],
  ];
  render('Approvals',
    h('p', { className: 'muted' }, 'Tool calls the tenant\'s policies hold until a person approves them. An approved call runs once, for the user who made it, with exactly the arguments shown.'),
    h('h2', {}, `Waiting (${pending.length})`),
    table('Waiting approvals', columns, pending, 'No call is waiting.'),
    h('h2', {}, 'Decided'),
    table('Decided approvals', columns, decided, 'None yet.'));
}

/** `/console/approvals/{id}`: the call and its arguments; Approve and Deny for another admin. */
export async function approvalPage(id) {
  const [approval, decides, who] = await Promise.all([
    api('GET', `/approvals/${enc(id)}`), may('POST /approvals/{id}/approve'), me(),
  ]);
  const messages = h('div', { id: 'approval-messages' });
  const reason = h('input', { type: 'text', id: 'approval-reason', maxLength: 1000, autocomplete: 'off' });
  const decide = (verb, done) => actionButton(verb === 'approve' ? 'Approve' : 'Deny', verb === 'approve' ? 'Approving…' : 'Denying…', async () => {
    try {
      const text = reason.value.trim();
      await api('POST', `/approvals/${enc(id)}/${verb}`, text ? { reason: text } : {});
      announce(done);
      await approvalPage(id);
      document.getElementById('approval-messages').replaceChildren(h('p', { role: 'status' }, done));
    } catch (failure) {
      messages.replaceChildren(problemBox(failure, verb === 'approve' ? 'Not approved' : 'Not denied'));
    }
  }, verb === 'approve' ? 'primary' : 'danger');
  const own = approval.requested_by === who.user_id;
  let controls = null;
  if (approval.status === 'pending' && decides && !own) {
    controls = h('section', { 'aria-labelledby': 'decide-heading' },
      h('h2', { id: 'decide-heading' }, 'Decide'),
      h('p', {}, 'Approve only if these exact arguments should be sent. The caller may then run this call once.'),
      h('label', { for: 'approval-reason' }, 'Reason (optional, shown to the caller)'),
      reason,
      h('div', { className: 'actions' }, decide('approve', 'Approved.'), decide('deny', 'Denied.')));
  } else if (approval.status === 'pending') {
    controls = h('p', { className: 'muted', id: 'decide-needs' }, own
      ? 'Waiting for an admin other than you to decide.'
      : 'An admin decides this call.');
  } else if (approval.status === 'approved' && own) {
    controls = h('p', {}, 'Approved: make the same call again with ', h('code', {}, `"approval_id": "${approval.id}"`),
      ' (an MCP client simply calls the tool again) before it expires.');
  }
  render(`Approval: ${approval.name}`,
    messages,
    facts([
      ['Status', badge(approval.status)],
      ['Tool', h('code', {}, approval.tool)],
      ['Server', link(`/servers/${enc(approval.server_config_id)}`, approval.server_config_id)],
      ['Agent', link(`/agents/${enc(approval.agent_id)}`, approval.agent_id)],
      ['Asked by', approval.requested_by],
      ['Asked', when(approval.requested_at)],
      ['Expires', when(approval.expires_at)],
      ['Policies', approval.policies.join(', ')],
      ['Decided by', approval.decided_by ?? undefined],
      ['Decided', approval.decided_at ? when(approval.decided_at) : undefined],
      ['Reason', approval.reason ?? undefined],
      ['Used', approval.used_at ? when(approval.used_at) : undefined],
      ['Arguments hash', h('code', {}, approval.arguments_sha256)],
    ]),
    h('h2', {}, 'Arguments'),
    json(approval.arguments),
    controls);
}
