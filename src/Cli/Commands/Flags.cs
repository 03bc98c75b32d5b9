using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Numerics;
using Shoal.Cli.Output;

namespace Shoal.Cli.Commands;

/// <summary>
/// Options whose values are checked while parsing, so a malformed flag is refused with a message naming it before
/// any request is sent (docker's <c>invalid argument "x" for "--flag" flag: …</c>).
/// </summary>
internal static class Flags
{
    /// <summary>The cluster port a node listens on unless told otherwise (DESIGN §2).</summary>
    public const int ClusterPort = 4242;

    /// <summary>A string option that only takes one of <paramref name="allowed"/> (case-insensitively, as docker);
    /// the value is lower-cased.</summary>
    public static Option<string?> OneOf(string name, string what, string description, params string[] allowed) => new(name)
    {
        Description = description,
        HelpName = string.Join('|', allowed),
        CustomParser = result =>
        {
            var text = Last(result);
            var value = text?.ToLowerInvariant();
            if (value is null || allowed.Contains(value))
            {
                return value;
            }

            result.AddError($"invalid {what} \"{text}\", only {Alternatives(allowed)} are supported");
            return null;
        },
    };

    /// <summary>A duration option in Go's syntax (<c>5s</c>, <c>2160h</c>), as nanoseconds; null when absent.</summary>
    public static Option<long?> Duration(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "duration",
        CustomParser = result =>
        {
            var text = Last(result);
            if (text is null)
            {
                return null;
            }

            if (GoDuration.TryParse(text, out var nanoseconds, out var error))
            {
                return nanoseconds;
            }

            result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: {error}");
            return null;
        },
    };

    /// <summary>An integer option; null when absent.</summary>
    public static Option<T?> Integer<T>(string name, string description)
        where T : struct, IBinaryInteger<T> => new(name)
        {
            Description = description,
            HelpName = "number",
            CustomParser = result =>
            {
                var text = Last(result);
                if (text is null)
                {
                    return null;
                }

                if (T.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                {
                    return value;
                }

                result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: not a whole number in range");
                return null;
            },
        };

    /// <summary>
    /// A node address option (<c>--listen-addr</c>) as docker's <c>NodeAddrOption</c> reads it:
    /// <c>&lt;ip|interface&gt;[:port]</c>, the host defaulting to 0.0.0.0 and the port to the cluster port.
    /// </summary>
    public static Option<string?> NodeAddress(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "ip|interface[:port]",
        CustomParser = result =>
        {
            var text = Last(result);
            if (text is null)
            {
                return null;
            }

            if (TryParseNodeAddress(text, out var address, out var error))
            {
                return address;
            }

            result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: {error}");
            return null;
        },
    };

    /// <summary>A list of CIDR blocks, repeated or comma-separated (<c>--default-addr-pool</c>).</summary>
    public static Option<string[]> Cidrs(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "cidr",
        CustomParser = result =>
        {
            var pools = new List<string>();
            foreach (var text in result.Tokens.SelectMany(token => token.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            {
                if (!IPNetwork.TryParse(text, out var network))
                {
                    result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: not a CIDR block with its host bits zero, such as 10.20.0.0/16");
                    return [];
                }

                pools.Add(network.ToString());
            }

            return [.. pools];
        },
    };

    /// <summary>
    /// Reads <c>&lt;host&gt;[:port]</c> (an optional <c>tcp://</c> in front, IPv6 hosts in brackets) into
    /// <c>host:port</c> with the defaults filled in.
    /// </summary>
    public static bool TryParseNodeAddress(string text, out string address, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        address = string.Empty;
        var rest = text.StartsWith("tcp://", StringComparison.Ordinal) ? text["tcp://".Length..] : text;
        if (rest.Contains("://", StringComparison.Ordinal))
        {
            error = "only tcp addresses can be listened on";
            return false;
        }

        string host, port;
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']', StringComparison.Ordinal);
            var after = close < 0 ? null : rest[(close + 1)..];
            if (after is null || (after.Length > 0 && after[0] != ':'))
            {
                error = "an IPv6 address is written [address]:port";
                return false;
            }

            host = rest[1..close];
            port = after.Length > 0 ? after[1..] : string.Empty;
        }
        else
        {
            var colons = rest.Count(c => c == ':');
            if (colons > 1)
            {
                error = "write an IPv6 address in brackets: [address]:port";
                return false;
            }

            var colon = rest.IndexOf(':', StringComparison.Ordinal);
            host = colon < 0 ? rest : rest[..colon];
            port = colon < 0 ? string.Empty : rest[(colon + 1)..];
        }

        if (port.Length > 0 && !ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            error = $"invalid port \"{port}\": a port is a number from 0 to 65535";
            return false;
        }

        host = host.Length == 0 ? "0.0.0.0" : host;
        port = port.Length == 0 ? ClusterPort.ToString(CultureInfo.InvariantCulture) : port;
        address = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
        error = null;
        return true;
    }

    private static string? Last(ArgumentResult result) => result.Tokens.Count == 0 ? null : result.Tokens[^1].Value;

    private static string Alternatives(string[] allowed) =>
        allowed.Length == 1 ? allowed[0] : string.Join(", ", allowed[..^1]) + " and " + allowed[^1];
}
