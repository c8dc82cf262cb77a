// What the scripted scenarios (figure8.ts, single-server.ts) drive a SimCluster with: a node
// ticked alone until it reaches a role, a leader's ticks with every message delivered, and the
// result a script ends with.
import type { Role } from '../../src/raft/index.ts';
import type { SimCluster } from './cluster.ts';
import type { Violation } from './checkers.ts';

export interface ScenarioResult {
  readonly violation: Violation | null;
  /** Whether the script reached its last step. */
  readonly completed: boolean;
  readonly trace: readonly string[];
}

const TICKS_MAX = 200;
const DELIVERY_ROUNDS_MAX = 50;

export function scriptSteps(c: SimCluster) {
  /** Delivers until nothing is in flight (bounded). */
  const drain = (): void => {
    for (let k = 0; k < DELIVERY_ROUNDS_MAX && c.inFlight > 0 && !c.violation; k++) {
      c.stepClock();
      c.deliverAll();
    }
  };
  return {
    done: (completed: boolean): ScenarioResult => ({ violation: c.violation, completed, trace: c.lastTrace(40) }),
    drain,
    /** Ticks only node i (the others never time out) until it reaches `role`; with `deliver`,
     *  messages are delivered after each tick until it has. */
    campaignUntil: (i: number, role: Role, deliver: boolean): boolean => {
      for (let t = 0; t < TICKS_MAX && !c.violation; t++) {
        if (c.status(i)?.role === role) return true;
        c.tick(i);
        for (let k = 0; deliver && k < DELIVERY_ROUNDS_MAX && c.inFlight > 0 && c.status(i)?.role !== role; k++) {
          c.stepClock();
          c.deliverAll();
        }
      }
      return c.status(i)?.role === role;
    },
    /** Ticks node i `count` times, draining after each. */
    leaderTicks: (i: number, count: number): void => {
      for (let k = 0; k < count && !c.violation; k++) {
        c.tick(i);
        drain();
      }
    },
  };
}
