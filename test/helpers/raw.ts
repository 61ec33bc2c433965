import net from 'node:net';
import { resetUnderEnd } from '../../src/upstream/undici-parts.js';

/** Sends raw bytes to 127.0.0.1:`port` and collects everything until the proxy closes. */
export function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/**
 * Sends raw bytes to 127.0.0.1:`port` and collects what comes back (latin1), with how the
 * connection ended: 'end' for a FIN, else the error's code (a reset: 'ECONNRESET'). A reset in
 * the same instant as the last bytes reaches Node as an end of stream (libuv), where a client
 * reading with recv() (curl) gets the reset's error: the socket, no longer connected, tells.
 */
export function rawExchangeEnding(port: number, bytes: string): Promise<{ text: string; ending: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let ending: string | undefined;
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.once('end', () => (ending ??= resetUnderEnd(socket) ? 'ECONNRESET' : 'end'));
    socket.once('error', (error: NodeJS.ErrnoException) => (ending ??= error.code ?? 'error'));
    socket.once('close', () => resolve({ text, ending: ending ?? 'end' }));
    socket.write(bytes);
  });
}

export function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
}

/** Opens a socket to the port and resolves once it is connected. */
export function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

