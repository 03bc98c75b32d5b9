using System.Net;
using System.Net.Sockets;

namespace Shoal.Api.Validation;

/// <summary>
/// Strict parsing of IP addresses and CIDR blocks as Go's net.ParseIP and net.ParseCIDR do: dotted-decimal IPv4
/// without leading zeros, IPv6 without a zone. IPAddress.TryParse alone accepts "1", "0x7f.1" and "fe80::1%eth0".
/// </summary>
internal static class IpText
{
    public static bool TryParseAddress(ReadOnlySpan<char> text, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.IsEmpty || text.Length > 45)
        {
            return false;
        }

        if (text.Contains(':'))
        {
            if (text.Contains('%') || !IPAddress.TryParse(text, out var parsed) || parsed.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }

            address = parsed;
            return true;
        }

        Span<byte> bytes = stackalloc byte[4];
        var part = 0;
        foreach (var range in text.Split('.'))
        {
            var digits = text[range];
            if (part == 4 || digits.Length is 0 or > 3 || (digits.Length > 1 && digits[0] == '0'))
            {
                return false;
            }

            var value = 0;
            foreach (var c in digits)
            {
                if (!char.IsAsciiDigit(c))
                {
                    return false;
                }

                value = (value * 10) + (c - '0');
            }

            if (value > 255)
            {
                return false;
            }

            bytes[part++] = (byte)value;
        }

        if (part != 4)
        {
            return false;
        }

        address = new IPAddress(bytes);
        return true;
    }

    /// <summary>Parses "address/prefix"; host bits may be set ("10.0.0.1/24"), as Go allows.</summary>
    public static bool TryParseCidr(ReadOnlySpan<char> text, out IPAddress address, out int prefixLength)
    {
        prefixLength = 0;
        var slash = text.IndexOf('/');
        if (slash < 0 || !TryParseAddress(text[..slash], out address))
        {
            address = IPAddress.None;
            return false;
        }

        var prefix = text[(slash + 1)..];
        if (prefix.Length is 0 or > 3 || prefix.ContainsAnyExceptInRange('0', '9'))
        {
            return false;
        }

        prefixLength = int.Parse(prefix, provider: System.Globalization.CultureInfo.InvariantCulture);
        return prefixLength <= (address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
    }

    /// <summary>Whether <paramref name="candidate"/> lies in the block; IPv4-mapped IPv6 addresses count as IPv4.</summary>
    public static bool Contains(IPAddress network, int prefixLength, IPAddress candidate)
    {
        if (network.IsIPv4MappedToIPv6)
        {
            network = network.MapToIPv4();
            prefixLength = Math.Max(0, prefixLength - 96);
        }

        if (candidate.IsIPv4MappedToIPv6)
        {
            candidate = candidate.MapToIPv4();
        }

        if (network.AddressFamily != candidate.AddressFamily)
        {
            return false;
        }

        Span<byte> left = stackalloc byte[16];
        Span<byte> right = stackalloc byte[16];
        network.TryWriteBytes(left, out var length);
        candidate.TryWriteBytes(right, out _);
        var fullBytes = prefixLength / 8;
        if (!left[..fullBytes].SequenceEqual(right[..fullBytes]))
        {
            return false;
        }

        var remainingBits = prefixLength % 8;
        if (remainingBits == 0 || fullBytes >= length)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - remainingBits));
        return (left[fullBytes] & mask) == (right[fullBytes] & mask);
    }
}
