using System.Globalization;
using System.Text;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Output;

/// <summary>
/// <c>service inspect --pretty</c>: docker's human summary of a service (its <c>serviceInspectPrettyTemplate</c>),
/// line for line, for the fields Shoal services have.
/// </summary>
internal static class ServicePretty
{
    /// <summary>Writes the summary of <paramref name="service"/>, followed by a newline.</summary>
    public static void Write(TextWriter output, Service service)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(service);
        var text = new StringBuilder();
        var spec = service.Spec;
        var template = spec.TaskTemplate;
        var container = template.ContainerSpec ?? new ContainerSpec();
        Line(text, "ID:\t\t" + service.ID);
        Line(text, "Name:\t\t" + spec.Name);
        if (spec.Labels is { Count: > 0 } labels)
        {
            Line(text, "Labels:");
            foreach (var (key, value) in labels.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Line(text, " " + key + (value.Length > 0 ? "=" + value : string.Empty));
            }
        }

        ModeLines(text, spec.Mode);
        if (service.UpdateStatus is { } status)
        {
            Line(text, "UpdateStatus:");
            Line(text, " State:\t\t" + status.State);
            if (status.StartedAt is { } started)
            {
                Line(text, " Started:\t" + ServiceTables.HumanDuration(TimeProvider.System.GetUtcNow() - started) + " ago");
            }

            // As docker's template: only a completed update shows when (not a completed rollback).
            if (status.State == UpdateStates.Completed && status.CompletedAt is { } completed)
            {
                Line(text, " Completed:\t" + ServiceTables.HumanDuration(TimeProvider.System.GetUtcNow() - completed) + " ago");
            }

            Line(text, " Message:\t" + status.Message);
        }

        Line(text, "Placement:");
        var placement = template.Placement;
        if (placement?.Constraints is { Count: > 0 } constraints)
        {
            Line(text, " Constraints:\t[" + string.Join(' ', constraints) + "]");
        }

        if (placement?.Preferences is { Count: > 0 } preferences)
        {
            Line(text, " Preferences:   [" + string.Join(' ', preferences.Select(p => "{Spread=" + p.Spread?.SpreadDescriptor + "}")) + "]");
        }

        if (placement?.MaxReplicas is > 0 and var maxReplicas)
        {
            Line(text, " Max Replicas Per Node:   " + maxReplicas.ToString(CultureInfo.InvariantCulture));
        }

        UpdateConfigLines(text, "UpdateConfig:", spec.UpdateConfig);
        UpdateConfigLines(text, "RollbackConfig:", spec.RollbackConfig);
        Line(text, "ContainerSpec:");
        Line(text, " Image:\t\t" + container.Image);
        if (container.Args is { Count: > 0 } args)
        {
            Line(text, " Args:\t\t" + string.Concat(args.Select(a => a + " ")));
        }

        if (container.Env is { Count: > 0 } env)
        {
            Line(text, " Env:\t\t" + string.Concat(env.Select(e => e + " ")));
        }

        if (!string.IsNullOrEmpty(container.Dir))
        {
            Line(text, " Dir:\t\t" + container.Dir);
        }

        if (container.Init is { } init)
        {
            Line(text, " Init:\t\t" + (init ? "true" : "false"));
        }

        if (!string.IsNullOrEmpty(container.User))
        {
            Line(text, " User: " + container.User);
        }

        if (!string.IsNullOrEmpty(container.StopSignal))
        {
            Line(text, " StopSignal:\t" + container.StopSignal);
        }

        ResourceLines(text, template.Resources);
        if (template.RestartPolicy is { } restart)
        {
            Line(text, "RestartPolicy:");
            Line(text, " Condition:\t" + restart.Condition);
            if (restart.Delay is { } delay)
            {
                Line(text, " Delay:\t\t" + GoDurationText(delay));
            }

            if (restart.MaxAttempts is { } attempts)
            {
                Line(text, " Max attempts:\t" + attempts.ToString(CultureInfo.InvariantCulture));
            }

            if (restart.Window is { } window)
            {
                Line(text, " Window:\t" + GoDurationText(window));
            }
        }

        Line(text, "Endpoint Mode:\t" + (spec.EndpointSpec?.Mode ?? service.Endpoint.Spec.Mode ?? "vip"));
        if (service.Endpoint.Ports is { Count: > 0 } ports)
        {
            Line(text, "Ports:");
            for (var i = 0; i < ports.Count; i++)
            {
                var port = ports[i];
                Line(text, " PublishedPort = " + port.PublishedPort.ToString(CultureInfo.InvariantCulture));
                Line(text, "  Protocol = " + port.Protocol);
                Line(text, "  TargetPort = " + port.TargetPort.ToString(CultureInfo.InvariantCulture));

                // docker's template leaves a blank after the last port.
                Line(text, "  PublishMode = " + port.PublishMode + (i == ports.Count - 1 ? " " : string.Empty));
            }
        }

        HealthcheckLines(text, container.Healthcheck);
        output.Write(text.ToString());
    }

    /// <summary>Go's <c>time.Duration.String()</c>: <c>5s</c>, <c>1m30s</c>, <c>1h0m0s</c>, <c>500ms</c>, <c>0s</c>.</summary>
    public static string GoDurationText(long nanoseconds)
    {
        if (nanoseconds == 0)
        {
            return "0s";
        }

        var sign = nanoseconds < 0 ? "-" : string.Empty;
        var value = (decimal)Math.Abs(nanoseconds);
        if (value < 1_000)
        {
            return sign + value.ToString(CultureInfo.InvariantCulture) + "ns";
        }

        if (value < 1_000_000)
        {
            return sign + (value / 1_000).ToString("0.#########", CultureInfo.InvariantCulture) + "µs";
        }

        if (value < 1_000_000_000)
        {
            return sign + (value / 1_000_000).ToString("0.#########", CultureInfo.InvariantCulture) + "ms";
        }

        var hours = decimal.Truncate(value / 3_600_000_000_000m);
        value -= hours * 3_600_000_000_000m;
        var minutes = decimal.Truncate(value / 60_000_000_000m);
        value -= minutes * 60_000_000_000m;
        var seconds = (value / 1_000_000_000m).ToString("0.#########", CultureInfo.InvariantCulture) + "s";
        return sign + (hours > 0 ? Invariant($"{hours}h{minutes}m{seconds}") : minutes > 0 ? Invariant($"{minutes}m{seconds}") : seconds);
    }

    private static void ModeLines(StringBuilder text, ServiceMode mode)
    {
        if (mode.Global is not null)
        {
            Line(text, "Service Mode:\tGlobal");
        }
        else if (mode.Replicated is { } replicated)
        {
            Line(text, "Service Mode:\tReplicated");
            if (replicated.Replicas is { } replicas)
            {
                Line(text, " Replicas:\t" + replicas.ToString(CultureInfo.InvariantCulture));
            }
        }
        else if (mode.ReplicatedJob is { } job)
        {
            Line(text, "Service Mode:\tReplicated Job");
            Line(text, " Max Concurrent:\t" + (job.MaxConcurrent ?? 1).ToString(CultureInfo.InvariantCulture));
            Line(text, " Total Completions:\t" + (job.TotalCompletions ?? job.MaxConcurrent ?? 1).ToString(CultureInfo.InvariantCulture));
        }
        else if (mode.GlobalJob is not null)
        {
            Line(text, "Service Mode:\tGlobal Job");
        }
        else
        {
            Line(text, "Service Mode:");
        }
    }

    private static void UpdateConfigLines(StringBuilder text, string title, UpdateConfig? config)
    {
        if (config is null)
        {
            return;
        }

        Line(text, title);
        Line(text, " Parallelism:\t" + config.Parallelism.ToString(CultureInfo.InvariantCulture));
        if (config.Delay is > 0 and var delay)
        {
            Line(text, " Delay:\t\t" + GoDurationText(delay));
        }

        Line(text, " On failure:\t" + config.FailureAction);
        if (config.Monitor is > 0 and var monitor)
        {
            Line(text, " Monitoring Period: " + GoDurationText(monitor));
        }

        Line(text, " Max failure ratio: " + config.MaxFailureRatio.ToString(CultureInfo.InvariantCulture));
        Line(text, (title == "UpdateConfig:" ? " Update order:      " : " Rollback order:    ") + config.Order);
    }

    /// <summary>
    /// docker's <c>Healthcheck</c> section (last in the template, indented under the endpoint): the durations as Go
    /// prints them, unset ones as <c>0s</c>, then each word of the test.
    /// </summary>
    private static void HealthcheckLines(StringBuilder text, HealthConfig? health)
    {
        if (health is null)
        {
            return;
        }

        Line(text, " Healthcheck:");
        Line(text, "  Interval = " + GoDurationText(health.Interval ?? 0));
        Line(text, "  Retries = " + health.Retries.ToString(CultureInfo.InvariantCulture));
        Line(text, "  StartPeriod =\t" + GoDurationText(health.StartPeriod ?? 0));
        Line(text, "  Timeout =\t" + GoDurationText(health.Timeout ?? 0));
        if (health.Test is { Count: > 0 } test)
        {
            Line(text, "  Tests:");
            for (var i = 0; i < test.Count; i++)
            {
                // As the template: a blank ends the last test's line.
                Line(text, "\t Test = " + test[i] + (i == test.Count - 1 ? " " : string.Empty));
            }
        }
    }

    private static void ResourceLines(StringBuilder text, ResourceRequirements? resources)
    {
        var reservations = resources?.Reservations;
        var limits = resources?.Limits;
        var hasReservations = reservations is { NanoCPUs: > 0 } or { MemoryBytes: > 0 };
        var hasLimits = limits is { NanoCPUs: > 0 } or { MemoryBytes: > 0 } or { Pids: > 0 };
        if (!hasReservations && !hasLimits)
        {
            return;
        }

        Line(text, "Resources:");
        if (hasReservations)
        {
            Line(text, " Reservations:");
            CpuMemory(text, reservations!.NanoCPUs, reservations.MemoryBytes);
        }

        if (hasLimits)
        {
            Line(text, " Limits:");
            CpuMemory(text, limits!.NanoCPUs, limits.MemoryBytes);
            if (limits.Pids > 0)
            {
                Line(text, "  PIDs:\t\t" + limits.Pids.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    private static void CpuMemory(StringBuilder text, long nanoCpus, long memoryBytes)
    {
        if (nanoCpus > 0)
        {
            Line(text, "  CPU:\t\t" + (nanoCpus / 1e9).ToString(CultureInfo.InvariantCulture));
        }

        if (memoryBytes > 0)
        {
            Line(text, "  Memory:\t" + DockerFormat.BytesSize(memoryBytes));
        }
    }

    private static void Line(StringBuilder text, string line) => text.Append(line).Append('\n');

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
