using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Http;
using Shoal.DockerApi.Model;
using Proto = Shoal.Api;

namespace Shoal.DockerApi;

/// <summary>
/// The query of <c>GET /services/{id}/logs</c> and <c>GET /tasks/{id}/logs</c> as moby reads it: <c>stdout</c>,
/// <c>stderr</c> (at least one), <c>follow</c>, <c>tail</c> ("all" or a number of lines), <c>timestamps</c>,
/// <c>details</c>, and <c>since</c>/<c>until</c> (Unix seconds with an optional fraction, as the CLI sends them, or
/// RFC 3339).
/// </summary>
internal sealed record DockerLogOptions
{
    public bool Stdout { get; init; }

    public bool Stderr { get; init; }

    public bool Follow { get; init; }

    /// <summary>Lines per task before following; negative = all.</summary>
    public long Tail { get; init; } = -1;

    public bool Timestamps { get; init; }

    public bool Details { get; init; }

    public Timestamp? Since { get; init; }

    public Timestamp? Until { get; init; }

    /// <summary>Reads the query.</summary>
    /// <exception cref="DockerApiException">400 for no stream selected or a malformed tail, since or until.</exception>
    public static DockerLogOptions Parse(IQueryCollection query, Func<string, bool> flag)
    {
        var options = new DockerLogOptions
        {
            Stdout = flag("stdout"),
            Stderr = flag("stderr"),
            Follow = flag("follow"),
            Tail = ParseTail(query["tail"].ToString()),
            Timestamps = flag("timestamps"),
            Details = flag("details"),
            Since = ParseTime("since", query["since"].ToString()),
            Until = ParseTime("until", query["until"].ToString()),
        };
        return options.Stdout || options.Stderr
            ? options
            : throw DockerApiException.BadRequest("Bad parameters: you must choose at least one stream (stdout=1 and/or stderr=1)");
    }

    /// <summary>The subscription options for the control API.</summary>
    public Proto.LogSubscriptionOptions ToProto()
    {
        var proto = new Proto.LogSubscriptionOptions { Follow = Follow, Tail = Tail, Since = Since, Until = Until };
        if (!(Stdout && Stderr))
        {
            proto.Streams.Add(Stdout ? Proto.LogStream.Stdout : Proto.LogStream.Stderr);
        }

        return proto;
    }

    /// <summary>Whether lines of <paramref name="stream"/> were asked for (lines of an unknown stream never are, as in moby).</summary>
    public bool Wants(Proto.LogStream stream) => stream switch
    {
        Proto.LogStream.Stdout => Stdout,
        Proto.LogStream.Stderr => Stderr,
        _ => false,
    };

    private static long ParseTail(string text)
    {
        if (text is "" or "all")
        {
            return -1;
        }

        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var lines)
            ? Math.Max(-1, lines)
            : throw DockerApiException.BadRequest($"invalid tail value '{text}': use \"all\" or a number of lines");
    }

    private static Timestamp? ParseTime(string name, string text)
    {
        if (text is "" or "0")
        {
            return null;
        }

        // moby's timetypes.ParseTimestamps: "<seconds>[.<fraction>]".
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var secondsText = dot < 0 ? text : text[..dot];
        var fraction = dot < 0 ? string.Empty : text[(dot + 1)..];
        if (long.TryParse(secondsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds)
            && fraction.Length <= 9 && fraction.All(char.IsAsciiDigit))
        {
            var nanos = fraction.Length == 0 ? 0 : int.Parse(fraction.PadRight(9, '0'), CultureInfo.InvariantCulture);
            return new Timestamp { Seconds = seconds, Nanos = nanos };
        }

        try
        {
            return Timestamp.FromDateTimeOffset(Rfc3339TimeConverter.Parse(text));
        }
        catch (System.Text.Json.JsonException)
        {
            throw DockerApiException.BadRequest($"invalid {name} value '{text}': use Unix seconds (e.g. 1700000000.5) or an RFC 3339 time");
        }
    }
}
