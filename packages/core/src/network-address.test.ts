import { describe, expect, it } from 'vitest';
import { privateAddressRange, privateTargetRefusal } from './network-address.ts';

describe('privateAddressRange', () => {
  it('names the loopback, private, link-local and other non-public IPv4 ranges', () => {
    expect(privateAddressRange('127.0.0.1')).toBe('loopback 127.0.0.0/8');
    expect(privateAddressRange('127.255.1.2')).toBe('loopback 127.0.0.0/8');
    expect(privateAddressRange('10.1.2.3')).toBe('private (RFC 1918) 10.0.0.0/8');
    expect(privateAddressRange('172.16.0.1')).toBe('private (RFC 1918) 172.16.0.0/12');
    expect(privateAddressRange('172.31.255.255')).toBe('private (RFC 1918) 172.16.0.0/12');
    expect(privateAddressRange('192.168.1.1')).toBe('private (RFC 1918) 192.168.0.0/16');
    expect(privateAddressRange('169.254.169.254')).toBe('link-local 169.254.0.0/16');
    expect(privateAddressRange('0.0.0.0')).toBe('unspecified ("this network") 0.0.0.0/8');
    expect(privateAddressRange('100.64.0.1')).toBe('shared carrier-grade NAT 100.64.0.0/10');
    expect(privateAddressRange('224.0.0.1')).toBe('multicast 224.0.0.0/4');
  });

  it('lets public IPv4 addresses through, including the neighbours of the private ranges', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.0', '11.0.0.0', '169.253.0.1']) {
      expect(privateAddressRange(address), address).toBeNull();
    }
  });

  it('names the IPv6 ranges, and judges mapped and NAT64 addresses by their IPv4 address', () => {
    expect(privateAddressRange('::1')).toBe('loopback ::1/128');
    expect(privateAddressRange('::')).toBe('unspecified ::/128');
    expect(privateAddressRange('fe80::1')).toBe('link-local fe80::/10');
    expect(privateAddressRange('fd12:3456::1')).toBe('unique local (private) fc00::/7');
    expect(privateAddressRange('::ffff:127.0.0.1')).toBe('loopback 127.0.0.0/8');
    expect(privateAddressRange('::ffff:a00:1')).toBe('private (RFC 1918) 10.0.0.0/8');
    expect(privateAddressRange('64:ff9b::a9fe:a9fe')).toBe('link-local 169.254.0.0/16');
    expect(privateAddressRange('64:ff9b::8.8.8.8')).toBeNull();
    expect(privateAddressRange('2606:4700:4700::1111')).toBeNull();
    expect(privateAddressRange('::ffff:8.8.8.8')).toBeNull();
  });

  it('refuses what is not an IP address', () => {
    expect(() => privateAddressRange('localhost')).toThrow(TypeError);
  });
});

describe('privateTargetRefusal', () => {
  it('names the host, the address, the range and the setting that allows it', () => {
    expect(privateTargetRefusal('localhost', '127.0.0.1')).toBe(
      'localhost (127.0.0.1) is a loopback 127.0.0.0/8 address: webhooks reach public addresses only, unless SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS=true',
    );
    expect(privateTargetRefusal('example.com', '93.184.215.14')).toBeNull();
  });
});
