using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Shoal.Cli.Output;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// The flags <c>service create</c> and <c>service update</c> share for how a change is rolled out and checked:
/// docker's <c>--update-*</c> and <c>--rollback-*</c> (the service's <c>UpdateConfig</c> and <c>RollbackConfig</c>)
/// and <c>--health-*</c>/<c>--no-healthcheck</c> (the container's <c>Healthcheck</c>). Durations go out in
/// nanoseconds, the failure ratio as a float, as docker sends them. Values are checked while parsing, so a bad one is
/// refused naming its flag before any request is sent.
/// </summary>
internal sealed class ServiceRolloutFlags
{
    /// <summary>Swarm's default monitor window after each task update or rollback (5 s).</summary>
    public static readonly long DefaultMonitor = (long)TimeSpan.FromSeconds(5).TotalNanoseconds;

    /// <summary>Swarm's default restart delay, which <c>service update --restart-*</c> starts from when the service has no policy.</summary>
    public static readonly long DefaultRestartDelay = (long)TimeSpan.FromSeconds(5).TotalNanoseconds;

    private static readonly long MinimumHealthDuration = (long)TimeSpan.FromMilliseconds(1).TotalNanoseconds;

    public Option<ulong?> UpdateParallelism { get; } = Flags.Integer<ulong>("--update-parallelism", "Maximum number of tasks updated simultaneously (0 to update all at once; default 1)");

    public Option<long?> UpdateDelay { get; } = NonNegativeDuration("--update-delay", "Delay between updates (ns|us|ms|s|m|h; default 0s)");

    public Option<string?> UpdateFailureAction { get; } = Flags.OneOf(
        "--update-failure-action", "update failure action", "Action on update failure: pause, continue or rollback (default pause)",
        FailureActions.Pause, FailureActions.Continue, FailureActions.Rollback);

    public Option<long?> UpdateMonitor { get; } = NonNegativeDuration("--update-monitor", "Duration after each task update to monitor for failure, and that the progress display waits for stability (ns|us|ms|s|m|h; default 5s)");

    public Option<float?> UpdateMaxFailureRatio { get; } = Ratio("--update-max-failure-ratio", "Failure rate to tolerate during an update (0 to 1; default 0)");

    public Option<string?> UpdateOrder { get; } = Flags.OneOf(
        "--update-order", "update order", "Update order: stop-first (the old task stops before its replacement starts) or start-first (default stop-first)",
        UpdateOrders.StartFirst, UpdateOrders.StopFirst);

    public Option<ulong?> RollbackParallelism { get; } = Flags.Integer<ulong>("--rollback-parallelism", "Maximum number of tasks rolled back simultaneously (0 to roll back all at once; default 1)");

    public Option<long?> RollbackDelay { get; } = NonNegativeDuration("--rollback-delay", "Delay between task rollbacks (ns|us|ms|s|m|h; default 0s)");

    public Option<string?> RollbackFailureAction { get; } = Flags.OneOf(
        "--rollback-failure-action", "rollback failure action", "Action on rollback failure: pause or continue (default pause)",
        FailureActions.Pause, FailureActions.Continue);

    public Option<long?> RollbackMonitor { get; } = NonNegativeDuration("--rollback-monitor", "Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h; default 5s)");

    public Option<float?> RollbackMaxFailureRatio { get; } = Ratio("--rollback-max-failure-ratio", "Failure rate to tolerate during a rollback (0 to 1; default 0)");

    public Option<string?> RollbackOrder { get; } = Flags.OneOf(
        "--rollback-order", "rollback order", "Rollback order: stop-first or start-first (default stop-first)",
        UpdateOrders.StartFirst, UpdateOrders.StopFirst);

    public Option<string?> HealthCmd { get; } = new("--health-cmd") { Description = "Command to run to check health (run by the shell: CMD-SHELL)", HelpName = "command" };

    public Option<long?> HealthInterval { get; } = HealthDuration("--health-interval", "Time between running the check (ms|s|m|h)", minimum: true);

    public Option<long?> HealthTimeout { get; } = HealthDuration("--health-timeout", "Maximum time to allow one check to run (ms|s|m|h)", minimum: true);

    public Option<int?> HealthRetries { get; } = Retries("--health-retries", "Consecutive failures needed to report unhealthy");

    public Option<long?> HealthStartPeriod { get; } = HealthDuration("--health-start-period", "Start period for the task to initialize before counting retries towards unstable (ms|s|m|h)", minimum: false);

    public Option<long?> HealthStartInterval { get; } = HealthDuration("--health-start-interval", "Time between running the check during the start period (ms|s|m|h)", minimum: true);

    public Option<bool> NoHealthcheck { get; } = new("--no-healthcheck") { Description = "Disable any container-specified HEALTHCHECK" };

    /// <summary>The <c>--update-*</c> flags.</summary>
    public Option[] UpdateOptions => [UpdateParallelism, UpdateDelay, UpdateFailureAction, UpdateMonitor, UpdateMaxFailureRatio, UpdateOrder];

    /// <summary>The <c>--rollback-*</c> flags.</summary>
    public Option[] RollbackOptions => [RollbackParallelism, RollbackDelay, RollbackFailureAction, RollbackMonitor, RollbackMaxFailureRatio, RollbackOrder];

    /// <summary>The <c>--health-*</c> flags with a value (not <c>--no-healthcheck</c>).</summary>
    public Option[] HealthOptions => [HealthCmd, HealthInterval, HealthTimeout, HealthRetries, HealthStartPeriod, HealthStartInterval];

    /// <summary>Every flag, in the order help lists them.</summary>
    public Option[] All => [.. UpdateOptions, .. RollbackOptions, .. HealthOptions, NoHealthcheck];

    /// <summary>Whether any of <paramref name="options"/> was given on the command line.</summary>
    public static bool AnyGiven(ParseResult parse, IEnumerable<Option> options)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return options.Any(option => parse.GetResult(option) is { Implicit: false });
    }

    /// <summary>
    /// <c>service create</c>'s update or rollback config: swarm's defaults (parallelism 1, no delay, pause on
    /// failure, a 5 s monitor, ratio 0, stop-first) with the given flags applied.
    /// </summary>
    public UpdateConfig CreateConfig(ParseResult parse, bool rollback)
    {
        var config = DefaultConfig();
        ApplyConfig(parse, config, rollback);
        return config;
    }

    /// <summary>
    /// <c>service create</c>'s health check (docker's <c>toHealthConfig</c>): none without health flags, <c>["NONE"]</c>
    /// for <c>--no-healthcheck</c>, else the given settings (<c>Test ["CMD-SHELL", cmd]</c>; unset durations left
    /// out, which means the defaults).
    /// </summary>
    /// <exception cref="CommandException"><c>--no-healthcheck</c> with <c>--health-*</c> settings.</exception>
    public HealthConfig? CreateHealth(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var cmd = parse.GetValue(HealthCmd);
        var interval = parse.GetValue(HealthInterval);
        var timeout = parse.GetValue(HealthTimeout);
        var startPeriod = parse.GetValue(HealthStartPeriod);
        var startInterval = parse.GetValue(HealthStartInterval);
        var retries = parse.GetValue(HealthRetries) ?? 0;
        var haveSettings = !string.IsNullOrEmpty(cmd) || interval is not null || timeout is not null || startPeriod is not null || startInterval is not null || retries != 0;
        if (parse.GetValue(NoHealthcheck))
        {
            return haveSettings ? throw NoHealthcheckConflict() : new HealthConfig { Test = ["NONE"] };
        }

        if (!haveSettings)
        {
            return null;
        }

        return new HealthConfig
        {
            Test = string.IsNullOrEmpty(cmd) ? null : ["CMD-SHELL", cmd],
            Interval = NullIfZero(interval),
            Timeout = NullIfZero(timeout),
            StartPeriod = NullIfZero(startPeriod),
            StartInterval = NullIfZero(startInterval),
            Retries = retries,
        };
    }

    /// <summary>
    /// <c>service update</c>'s edits (docker's <c>updateService</c>): a config none of whose flags were given is left
    /// as it is; otherwise it starts from the service's (or swarm's defaults when it has none) and takes each given
    /// flag. The health check likewise (docker's <c>updateHealthcheck</c>): <c>--no-healthcheck</c> replaces it with
    /// <c>["NONE"]</c>, <c>--health-cmd ""</c> clears the test.
    /// </summary>
    /// <exception cref="CommandException"><c>--no-healthcheck</c> with <c>--health-*</c> settings.</exception>
    public void ApplyTo(ServiceSpec spec, ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parse);
        if (AnyGiven(parse, UpdateOptions))
        {
            ApplyConfig(parse, spec.UpdateConfig ??= DefaultConfig(), rollback: false);
        }

        if (AnyGiven(parse, RollbackOptions))
        {
            ApplyConfig(parse, spec.RollbackConfig ??= DefaultConfig(), rollback: true);
        }

        if (!AnyGiven(parse, [.. HealthOptions, NoHealthcheck]))
        {
            return;
        }

        var container = spec.TaskTemplate.ContainerSpec ??= new ContainerSpec();
        if (parse.GetValue(NoHealthcheck))
        {
            container.Healthcheck = AnyGiven(parse, HealthOptions) ? throw NoHealthcheckConflict() : new HealthConfig { Test = ["NONE"] };
            return;
        }

        var health = container.Healthcheck ??= new HealthConfig();
        if (health.Test is ["NONE", ..])
        {
            health.Test = null;
        }

        if (Given(parse, HealthInterval))
        {
            health.Interval = parse.GetValue(HealthInterval);
        }

        if (Given(parse, HealthTimeout))
        {
            health.Timeout = parse.GetValue(HealthTimeout);
        }

        if (Given(parse, HealthStartPeriod))
        {
            health.StartPeriod = parse.GetValue(HealthStartPeriod);
        }

        if (Given(parse, HealthStartInterval))
        {
            health.StartInterval = parse.GetValue(HealthStartInterval);
        }

        if (parse.GetValue(HealthRetries) is { } retries)
        {
            health.Retries = retries;
        }

        if (Given(parse, HealthCmd))
        {
            health.Test = parse.GetValue(HealthCmd) is { Length: > 0 } cmd ? ["CMD-SHELL", cmd] : null;
        }
    }

    private static UpdateConfig DefaultConfig() => new()
    {
        Parallelism = 1,
        Delay = 0,
        FailureAction = FailureActions.Pause,
        Monitor = DefaultMonitor,
        MaxFailureRatio = 0,
        Order = UpdateOrders.StopFirst,
    };

    private void ApplyConfig(ParseResult parse, UpdateConfig config, bool rollback)
    {
        var (parallelism, delay, action, monitor, ratio, order) = rollback
            ? (RollbackParallelism, RollbackDelay, RollbackFailureAction, RollbackMonitor, RollbackMaxFailureRatio, RollbackOrder)
            : (UpdateParallelism, UpdateDelay, UpdateFailureAction, UpdateMonitor, UpdateMaxFailureRatio, UpdateOrder);
        if (parse.GetValue(parallelism) is { } p)
        {
            config.Parallelism = p;
        }

        if (parse.GetValue(delay) is { } d)
        {
            config.Delay = d;
        }

        if (parse.GetValue(action) is { } a)
        {
            config.FailureAction = a;
        }

        if (parse.GetValue(monitor) is { } m)
        {
            config.Monitor = m;
        }

        if (parse.GetValue(ratio) is { } r)
        {
            config.MaxFailureRatio = r;
        }

        if (parse.GetValue(order) is { } o)
        {
            config.Order = o;
        }
    }

    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    private static long? NullIfZero(long? value) => value is 0 ? null : value;

    private static CommandException NoHealthcheckConflict() =>
        new("--no-healthcheck conflicts with --health-* options: give either --no-healthcheck or the health check's settings");

    /// <summary>A duration that may not be negative (swarm refuses a negative delay or monitor).</summary>
    private static Option<long?> NonNegativeDuration(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "duration",
        CustomParser = result => ParseDuration(result, name, minimum: 0),
    };

    /// <summary>
    /// A health check duration (docker's <c>PositiveDurationOpt</c>): not negative, and where swarm requires it, 0 (the
    /// default) or at least 1 ms.
    /// </summary>
    private static Option<long?> HealthDuration(string name, string description, bool minimum) => new(name)
    {
        Description = description,
        HelpName = "duration",
        CustomParser = result => ParseDuration(result, name, minimum ? MinimumHealthDuration : 0),
    };

    private static long? ParseDuration(ArgumentResult result, string name, long minimum)
    {
        if (result.Tokens.Count == 0)
        {
            return null;
        }

        var text = result.Tokens[^1].Value;
        if (!GoDuration.TryParse(text, out var nanoseconds, out var error))
        {
            result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: {error}");
            return null;
        }

        if (nanoseconds < 0)
        {
            result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: duration cannot be negative");
            return null;
        }

        if (nanoseconds != 0 && nanoseconds < minimum)
        {
            result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: use 0 (the default) or at least 1ms");
            return null;
        }

        return nanoseconds;
    }

    private static Option<float?> Ratio(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "ratio",
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return null;
            }

            var text = result.Tokens[^1].Value;
            if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var ratio) || !float.IsFinite(ratio))
            {
                result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: not a number (write a ratio such as 0.2)");
                return null;
            }

            if (ratio is < 0 or > 1)
            {
                result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: the ratio must be between 0 and 1 (0.2 tolerates one failed task in five)");
                return null;
            }

            return ratio;
        },
    };

    private static Option<int?> Retries(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "number",
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return null;
            }

            var text = result.Tokens[^1].Value;
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var retries))
            {
                result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: not a whole number in range");
                return null;
            }

            if (retries < 0)
            {
                result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: retries cannot be negative");
                return null;
            }

            return retries;
        },
    };
}
