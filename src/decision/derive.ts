/**
 * Pure functions from the one {@link DecisionRequest} to every other shape a decision needs: the
 * Cedar input, the revocation subjects, the session binding and its comparison, the approval's
 * call. A field is written by hand here once.
 */
import type { ChangedLayer } from "../errors.js";
import type { DecisionInput, JsonValue, PolicyAction, SessionFacts } from "../policy/types.js";
import type { ApprovalCall } from "../session/approval-types.js";
import type { RevocationSubjects, SessionBinding } from "../session/types.js";
import { userRef } from "../session/user-ref.js";
import type { DecisionRequest, Item, ItemKind } from "./types.js";

/** The Cedar action of an item kind. */
export const ACTION_OF: Readonly<Record<ItemKind, PolicyAction>> = {
  tool: "call_tool",
  resource: "read_resource",
  prompt: "get_prompt",
};

/** What a Cedar request adds to the verified parties besides the item. */
export interface CedarExtras {
  readonly session?: SessionFacts;
  readonly requestedTtlSeconds?: number;
  readonly approved?: boolean;
  /** Extra scopes to judge with (a grant judged as if a step-up were done). */
  readonly scopes?: readonly string[];
  /** The call's arguments checked and typed against the tool's definition (see check-arguments.ts). */
  readonly typedArguments?: JsonValue;
  /** The tool's annotations and the source of its definition (see tool-pins.ts). */
  readonly toolAnnotations?: DecisionInput["toolAnnotations"];
  /** First-seen relations (see novelty.ts). */
  readonly novelty?: DecisionInput["novelty"];
}

/** The Cedar input of a request, for `action` on `item` (none for `open_session`). */
export function cedarInput(request: DecisionRequest, action: PolicyAction, item: Item | undefined, extras: CedarExtras = {}): DecisionInput {
  const { user, agent } = request.parties;
  return {
    agent: { id: agent.agentId, trustDomain: agent.trustDomain },
    user: { issuer: user.issuer, subject: user.subject, scopes: extras.scopes ?? user.scopes },
    clientId: request.clientId,
    serverId: request.serverId,
    idp: user.issuer,
    purpose: request.purpose,
    agentAttestation: request.parties.agentAttestation,
    action,
    ...(item && (item.kind === "resource" ? { resourceUri: item.name } : { tool: item.name })),
    ...(item === request.item && request.resourceUri !== undefined && { resourceUri: request.resourceUri }),
    ...(request.arguments && item === request.item && { arguments: request.arguments.value }),
    ...(extras.typedArguments !== undefined && { typedArguments: extras.typedArguments }),
    ...(extras.toolAnnotations && { toolAnnotations: extras.toolAnnotations }),
    ...(extras.session && { session: extras.session }),
    ...(extras.novelty && { novelty: extras.novelty }),
    ...(extras.requestedTtlSeconds !== undefined && { requestedTtlSeconds: extras.requestedTtlSeconds }),
    ...(extras.approved && { approved: true }),
    ...(request.parties.assertedBy !== undefined && { claimsAsserted: true }),
  };
}

/** The revocation subjects of a request: its session, verified identities and token ids. */
export function revocationSubjects(request: DecisionRequest): RevocationSubjects {
  const { user, agent } = request.parties;
  const tokenIds: string[] = [];
  if (user.tokenId) tokenIds.push(user.tokenId);
  if (agent.tokenId) tokenIds.push(agent.tokenId);
  return {
    ...(request.sessionId !== undefined && { sessionId: request.sessionId }),
    agentId: agent.agentId,
    user: userRef(user.issuer, user.subject),
    clientId: request.clientId,
    tokenIds,
    // Asserted claims have no issue time: every agent, user or client revocation in force refuses them.
    ...(request.parties.assertedBy === undefined && { tokensIssuedAt: Math.min(user.issuedAt, agent.issuedAt) * 1000 }),
  };
}

/** The binding a session opened by this request is fixed to. */
export function bindingOf(request: DecisionRequest): SessionBinding {
  const { user, agent } = request.parties;
  return {
    userIssuer: user.issuer,
    userSubject: user.subject,
    agentId: agent.agentId,
    clientId: request.clientId,
    serverId: request.serverId,
    idp: user.issuer,
    purpose: request.purpose,
  };
}

/** The first bound layer in which the request differs from the binding, or undefined. */
export function changedLayer(binding: SessionBinding, request: DecisionRequest): ChangedLayer | undefined {
  const { user, agent } = request.parties;
  if (binding.idp !== user.issuer) return "idp";
  if (binding.userIssuer !== user.issuer || binding.userSubject !== user.subject) return "user";
  if (binding.agentId !== agent.agentId) return "agent";
  if (binding.clientId !== request.clientId) return "client";
  if (binding.serverId !== request.serverId) return "server";
  if (binding.purpose !== request.purpose) return "purpose";
  return undefined;
}

/** The exact call an approval is for (tool calls and prompts in a session). */
export function approvalCall(request: DecisionRequest, sessionId: string, item: Item): ApprovalCall {
  const { user, agent } = request.parties;
  return {
    sessionId,
    agentId: agent.agentId,
    userIssuer: user.issuer,
    userSubject: user.subject,
    clientId: request.clientId,
    serverId: request.serverId,
    tool: item.kind === "resource" ? "" : item.name,
    resourceUri: item.kind === "resource" ? item.name : (request.resourceUri ?? ""),
    argumentsDigest: request.arguments?.digest ?? "",
    purpose: request.purpose,
  };
}

/** How an item is named in a session's history: tools by name, others with their kind. */
export function historyName(item: Item): string {
  return item.kind === "tool" ? item.name : `${item.kind}:${item.name}`;
}
