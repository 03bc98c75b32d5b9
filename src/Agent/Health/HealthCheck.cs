using System.Globalization;
using Shoal.Agent.Executors;
using Shoal.Api;

namespace Shoal.Agent.Health;

/// <summary>
/// A task's health check as the agent runs it: Docker's <c>HEALTHCHECK</c> semantics read from
/// <see cref="ContainerSpec.Healthcheck"/>. <c>["CMD", program, args…]</c> runs the program itself,
/// <c>["CMD-SHELL", command]</c> runs <c>/bin/sh -c command</c>; <c>["NONE"]</c>, or no test at all (there is no image
/// to inherit one from), means no check. Unset durations and retries take Docker's defaults.
/// </summary>
/// <param name="Command">What to run: the program and its arguments.</param>
/// <param name="Interval">Time between the end of one check and the start of the next.</param>
/// <param name="Timeout">How long one check may run; longer counts as a failure (and the check is killed).</param>
/// <param name="Retries">Consecutive failures that make the task unhealthy.</param>
/// <param name="StartPeriod">Time after the start during which failures do not count until a check first passes.</param>
/// <param name="StartInterval">Time between checks during the start period, until a check first passes.</param>
internal sealed record HealthCheck(IReadOnlyList<string> Command, TimeSpan Interval, TimeSpan Timeout, int Retries, TimeSpan StartPeriod, TimeSpan StartInterval)
{
    /// <summary>Docker's default interval.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);

    /// <summary>Docker's default timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Docker's default start interval.</summary>
    public static readonly TimeSpan DefaultStartInterval = TimeSpan.FromSeconds(5);

    /// <summary>Docker's default retries.</summary>
    public const int DefaultRetries = 3;

    /// <summary>The shell of <c>CMD-SHELL</c> checks (Docker's on Linux).</summary>
    public const string Shell = "/bin/sh";

    /// <summary>
    /// The check of a container spec; null when it has none (no spec, no test, or <c>NONE</c>). Throws
    /// <see cref="TaskRejectedException"/> when the test cannot be run (an unknown kind, no command).
    /// </summary>
    public static HealthCheck? From(HealthConfig? config)
    {
        if (config is null || config.Test.Count == 0 || config.Test[0] == "NONE")
        {
            return null;
        }

        var kind = config.Test[0];
        var rest = config.Test.Skip(1).ToList();
        List<string> command = kind switch
        {
            "CMD" when rest.Count > 0 && rest[0].Length > 0 => rest,
            "CMD-SHELL" when rest.Count > 0 && rest[0].Length > 0 => [Shell, "-c", .. rest],
            "CMD" or "CMD-SHELL" => throw new TaskRejectedException(
                $"health check {kind} has no command (give one, e.g. --health-cmd \"curl -f http://localhost/\", or --no-healthcheck)"),
            _ => throw new TaskRejectedException(
                $"health check test \"{kind}\" is not CMD, CMD-SHELL or NONE (the test is [\"CMD\", program, args…], [\"CMD-SHELL\", command] or [\"NONE\"])"),
        };

        return new HealthCheck(
            command,
            OrDefault(config.Interval, DefaultInterval),
            OrDefault(config.Timeout, DefaultTimeout),
            config.Retries > 0 ? config.Retries : DefaultRetries,
            OrDefault(config.StartPeriod, TimeSpan.Zero),
            OrDefault(config.StartInterval, DefaultStartInterval));
    }

    /// <summary>A duration as Go prints it (<c>30s</c>, <c>200ms</c>, <c>1m30s</c>), as Docker's messages show them.</summary>
    public static string GoDuration(TimeSpan duration)
    {
        if (duration < TimeSpan.FromSeconds(1))
        {
            return string.Create(CultureInfo.InvariantCulture, $"{duration.TotalMilliseconds:0.###}ms");
        }

        var text = string.Create(CultureInfo.InvariantCulture, $"{duration.TotalSeconds % 60:0.#########}s");
        var minutes = (long)duration.TotalMinutes;
        return minutes == 0 ? text
            : minutes < 60 ? string.Create(CultureInfo.InvariantCulture, $"{minutes}m{text}")
            : string.Create(CultureInfo.InvariantCulture, $"{minutes / 60}h{minutes % 60}m{text}");
    }

    private static TimeSpan OrDefault(Google.Protobuf.WellKnownTypes.Duration? value, TimeSpan fallback) =>
        value is not null && value.ToTimeSpan() > TimeSpan.Zero ? value.ToTimeSpan() : fallback;
}

/// <summary>The result of one run of a health check.</summary>
/// <param name="ExitCode">0 when healthy; the check's exit code otherwise, -1 when it timed out or could not run.</param>
/// <param name="Output">What it printed (stdout and stderr, at most <see cref="MaxOutput"/> characters), or why it failed.</param>
public readonly record struct HealthProbeResult(int ExitCode, string Output)
{
    /// <summary>The most output kept per check (Docker's 4 KiB).</summary>
    public const int MaxOutput = 4096;

    /// <summary>Whether the check passed.</summary>
    public bool Passed => ExitCode == 0;

    /// <summary>The last non-empty line of the output (at most 200 characters), or the exit code when it printed nothing.</summary>
    public string Summary
    {
        get
        {
            var line = Output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } lines ? lines[^1] : null;
            return line is null ? string.Create(CultureInfo.InvariantCulture, $"health check exited with {ExitCode}")
                : line.Length > 200 ? line[..200] + "…"
                : line;
        }
    }
}
