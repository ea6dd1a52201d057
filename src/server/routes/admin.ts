import { invalidArgument } from '../errors.js';
import { readSmallBody } from '../http/body.js';
import { sendEmpty, type RequestContext } from '../http/context.js';
import { FAIL_STATUSES, type FailStatus } from '../faults.js';

/** The admin sub-resource: `POST /?x-ossencfs-faults`, signed like any OSS request. */
export const FAULTS_RESOURCE = 'x-ossencfs-faults';

/**
 * Arms or clears faults from another process. The body is one JSON object:
 *   {"action":"fail","count":2,"status":503,"code":"ServiceUnavailable","method":"GET","path":"key"}
 *   {"action":"resetResponse","bytes":65536,"count":1,"method":"GET","path":"big"}
 *   {"action":"resetRequest","bytes":1000}
 *   {"action":"latency","ms":200,"count":3}
 *   {"action":"clear"}                       (disarms every fault)
 *   {"action":"clock","offsetMs":-1200000}   (the server's clock runs this far from the host's; 0 resets)
 *   {"action":"requests","method":"GET","path":"key","reset":true}
 *       answers 200 {"requests":[{"method","path","query","status"},…]}: the requests seen since the
 *       last reset matching method/path (admin requests are not counted); "reset" forgets them after.
 * Only requests signed with one of the server's credentials reach this handler.
 */
export async function configureFaults(ctx: RequestContext): Promise<void> {
  let spec: Record<string, unknown>;
  try {
    spec = JSON.parse(await readSmallBody(ctx, 64 * 1024)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof SyntaxError) throw invalidArgument('The fault specification is not JSON.');
    throw err;
  }
  const target = {
    method: typeof spec.method === 'string' ? spec.method : undefined,
    path: typeof spec.path === 'string' ? spec.path : undefined,
  };
  const count = typeof spec.count === 'number' ? spec.count : undefined;
  const number = (name: string): number => {
    const value = spec[name];
    if (typeof value !== 'number' || value < 0) throw invalidArgument(`"${name}" must be a non-negative number.`, name, String(value));
    return value;
  };
  switch (spec.action) {
    case 'fail': {
      const status = (spec.status ?? 503) as FailStatus;
      if (!FAIL_STATUSES.includes(status)) throw invalidArgument(`"status" must be one of ${FAIL_STATUSES.join(', ')}.`, 'status', String(status));
      ctx.faults.failNext(count ?? 1, { ...target, status, code: typeof spec.code === 'string' ? spec.code : undefined, message: typeof spec.message === 'string' ? spec.message : undefined });
      break;
    }
    case 'resetResponse':
      ctx.faults.resetResponseAfter(number('bytes'), { ...target, count });
      break;
    case 'resetRequest':
      ctx.faults.resetRequestAfter(number('bytes'), { ...target, count });
      break;
    case 'latency':
      ctx.faults.addLatency(number('ms'), { ...target, count });
      break;
    case 'clear':
      ctx.faults.clear();
      break;
    case 'clock': {
      const offset = spec.offsetMs;
      if (typeof offset !== 'number' || !Number.isFinite(offset)) throw invalidArgument('"offsetMs" must be a number.', 'offsetMs', String(offset));
      ctx.clock.offsetMs = offset;
      break;
    }
    case 'requests': {
      const payload = Buffer.from(JSON.stringify({ requests: ctx.faults.requests(target) }));
      if (spec.reset === true) ctx.faults.resetRequests();
      ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
      ctx.res.end(payload);
      return;
    }
    default:
      throw invalidArgument('"action" must be fail, resetResponse, resetRequest, latency, clear, clock or requests.', 'action', String(spec.action));
  }
  sendEmpty(ctx, 204);
}
