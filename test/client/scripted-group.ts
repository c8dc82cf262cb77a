// A master whose membership changes are applied as a broker would, with refusals scripted by the
// test (on top of FakeBroker, through its hook).
import type { FakeBroker, AnyFrame } from './fake-broker.ts';
import type { MemberInfo, MembersInfo } from '../../src/client/index.ts';
import type { ServerConnection } from '../../src/net/index.ts';

export function member(nodeId: string, kind: MemberInfo['kind'], extra: Partial<MemberInfo> = {}): MemberInfo {
  const n = Number(nodeId.slice(1));
  return { nodeId, peerAddr: `127.0.0.1:${20911 + n}`, clientAddr: `127.0.0.1:${10911 + n}`, kind, isMaster: false, match: 100, lag: 0, active: true, ...extra };
}

/** A master (n0) of voters n0..n2 that applies changes as a broker would, with its refusals
 *  scripted by the test. The learner's lag falls by `lagStep` at every members read. */
export class ScriptedGroup {
  configIndex = 10;
  readonly members: MemberInfo[] = [member('n0', 'VOTER', { isMaster: true }), member('n1', 'VOTER'), member('n2', 'VOTER')];
  learnerLag = 0;
  lagStep = 0;
  /** Answers memberChange before the model does: an error frame's fields, 'drop' (the
   *  connection is cut after the request arrived), or undefined (apply it). */
  refuse: (frame: AnyFrame) => { code: string; message: string } | 'drop' | undefined = () => undefined;

  constructor(readonly broker: FakeBroker) {
    broker.hook = (frame, conn) => this.handle(frame, conn);
  }

  changes(op?: string): AnyFrame[] {
    return this.broker.requests.filter((r) => r.type === 'memberChange' && (op === undefined || r.op === op));
  }

  info(): MembersInfo {
    return { answeredBy: 'n0', configIndex: this.configIndex, changePending: false, members: this.members.map((m) => (m.kind === 'LEARNER' ? { ...m, lag: this.learnerLag, match: 10_000 - this.learnerLag } : m)) };
  }

  private handle(frame: AnyFrame, conn: ServerConnection): boolean {
    const reply = (r: object) => conn.send({ id: frame.id, ...r });
    if (frame.type === 'members') {
      this.learnerLag = Math.max(0, this.learnerLag - this.lagStep);
      reply({ type: 'members', members: this.info() });
      return true;
    }
    if (frame.type !== 'memberChange') return false;
    const refusal = this.refuse(frame);
    if (refusal === 'drop') conn.destroy('dropped after receiving the change');
    else if (refusal !== undefined) reply({ type: 'error', ...refusal });
    else {
      this.apply(frame);
      reply({ type: 'members', members: this.info() });
    }
    return true;
  }

  private apply(frame: AnyFrame): void {
    this.configIndex++;
    const at = this.members.findIndex((m) => m.nodeId === frame.nodeId);
    if (frame.op === 'add') this.members.push({ ...member(frame.nodeId, 'LEARNER'), peerAddr: frame.peerAddr, clientAddr: frame.clientAddr });
    else if (frame.op === 'promote') this.members[at] = { ...this.members[at]!, kind: 'VOTER' };
    else this.members.splice(at, 1);
  }
}
