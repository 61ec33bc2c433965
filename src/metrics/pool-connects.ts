import diagnosticsChannel from 'node:diagnostics_channel';

interface ConnectMessage {
  readonly connectParams: { readonly host: string };
  readonly connector: unknown;
}

/**
 * Times the connections undici opens for plain requests (each session's pool), from its
 * diagnostics channels: the routes stay as they are, and without a subscriber undici does not
 * even build the messages. A connect is matched to its start by the pool's connector and the
 * host; when a pool opens several at once they are paired in order, which keeps the
 * distribution right if not each single pair. The channels are process-wide: two stickyport
 * instances in one process (tests) each see both.
 */
export class PoolConnects {
  private readonly started = new Map<unknown, Map<string, number[]>>();
  private readonly unsubscribe: () => void;

  constructor(report: (host: string, seconds: number) => void) {
    const before = (message: unknown): void => {
      const { connector, connectParams } = message as ConnectMessage;
      let hosts = this.started.get(connector);
      if (!hosts) this.started.set(connector, (hosts = new Map()));
      let times = hosts.get(connectParams.host);
      if (!times) hosts.set(connectParams.host, (times = []));
      times.push(performance.now());
    };
    const take = (message: unknown): number | undefined => {
      const { connector, connectParams } = message as ConnectMessage;
      const hosts = this.started.get(connector);
      const times = hosts?.get(connectParams.host);
      const startedAt = times?.shift();
      if (times?.length === 0) hosts!.delete(connectParams.host);
      if (hosts?.size === 0) this.started.delete(connector);
      return startedAt;
    };
    const connected = (message: unknown): void => {
      const startedAt = take(message);
      if (startedAt !== undefined) report((message as ConnectMessage).connectParams.host, (performance.now() - startedAt) / 1000);
    };
    const failed = (message: unknown): void => void take(message);
    diagnosticsChannel.subscribe('undici:client:beforeConnect', before);
    diagnosticsChannel.subscribe('undici:client:connected', connected);
    diagnosticsChannel.subscribe('undici:client:connectError', failed);
    this.unsubscribe = () => {
      diagnosticsChannel.unsubscribe('undici:client:beforeConnect', before);
      diagnosticsChannel.unsubscribe('undici:client:connected', connected);
      diagnosticsChannel.unsubscribe('undici:client:connectError', failed);
    };
  }

  close(): void {
    this.unsubscribe();
    this.started.clear();
  }
}
