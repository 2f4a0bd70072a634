/**
 * Which IP addresses a webhook may not reach unless private targets are allowed: anything but
 * a public unicast address. A subscription's URL is the subscriber's choice, and the process
 * that POSTs to it runs inside the deployment's network, so without this rule a key holder
 * could make Switchyard call its own database, the cloud metadata service (169.254.169.254) or
 * any internal service (server-side request forgery).
 *
 * IPv4 rules also match the IPv4-mapped IPv6 form (::ffff:127.0.0.1; node's BlockList does
 * that), and an address of the NAT64 prefix is judged by the IPv4 address it embeds.
 */
import { BlockList, isIP } from 'node:net';

/** The name of each refused range, as an error message shows it. */
const PRIVATE_RANGES: readonly { range: string; name: string }[] = [
  { range: '0.0.0.0/8', name: 'unspecified ("this network")' },
  { range: '10.0.0.0/8', name: 'private (RFC 1918)' },
  { range: '100.64.0.0/10', name: 'shared carrier-grade NAT' },
  { range: '127.0.0.0/8', name: 'loopback' },
  { range: '169.254.0.0/16', name: 'link-local' },
  { range: '172.16.0.0/12', name: 'private (RFC 1918)' },
  { range: '192.0.0.0/24', name: 'IETF protocol assignments' },
  { range: '192.168.0.0/16', name: 'private (RFC 1918)' },
  { range: '198.18.0.0/15', name: 'benchmarking' },
  { range: '224.0.0.0/4', name: 'multicast' },
  { range: '240.0.0.0/4', name: 'reserved' },
  { range: '::/128', name: 'unspecified' },
  { range: '::1/128', name: 'loopback' },
  { range: 'fc00::/7', name: 'unique local (private)' },
  { range: 'fe80::/10', name: 'link-local' },
  { range: 'fec0::/10', name: 'site-local' },
  { range: 'ff00::/8', name: 'multicast' },
];

const RULES = PRIVATE_RANGES.map(({ range, name }) => {
  const [network, prefix] = range.split('/') as [string, string];
  const list = new BlockList();
  list.addSubnet(network, Number(prefix), isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return { range, name, list };
});

const NAT64 = new BlockList();
NAT64.addSubnet('64:ff9b::', 96, 'ipv6');

/**
 * The refused range `address` falls in, as `<name> <range>`, or null for a public unicast
 * address. @throws TypeError when `address` is not an IP address.
 */
export function privateAddressRange(address: string): string | null {
  const family = isIP(address);
  if (family === 0) throw new TypeError(`${address} is not an IP address`);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (type === 'ipv6' && NAT64.check(address, 'ipv6')) {
    return privateAddressRange(embeddedIpv4(address));
  }
  const rule = RULES.find(({ list }) => list.check(address, type));
  return rule ? `${rule.name} ${rule.range}` : null;
}

/** The IPv4 address in the last 32 bits of an IPv6 address. */
function embeddedIpv4(address: string): string {
  const tail = address.slice(address.lastIndexOf(':') + 1);
  if (isIP(tail) === 4) return tail;
  const groups = expandIpv6(address);
  const high = Number.parseInt(groups[6]!, 16);
  const low = Number.parseInt(groups[7]!, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

function expandIpv6(address: string): string[] {
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  return [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
}

/** The setting that lets webhooks reach private addresses (tests, demos, internal receivers). */
export const ALLOW_PRIVATE_TARGETS_SETTING = 'SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS';

/** Why a webhook may not reach `address` of `host`, or null when it may. */
export function privateTargetRefusal(host: string, address: string): string | null {
  const range = privateAddressRange(address);
  if (range === null) return null;
  const where = host === address ? host : `${host} (${address})`;
  return `${where} is a ${range} address: webhooks reach public addresses only, unless ${ALLOW_PRIVATE_TARGETS_SETTING}=true`;
}
