using System.CommandLine;
using System.CommandLine.Parsing;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// The flags of <c>service create</c> (docker's names and meanings) and the <see cref="ServiceSpec"/> they make, as
/// <c>docker service create</c> builds it. Shoal's process executor records the image and runs <c>COMMAND ARG…</c> on
/// the host; the spec keeps docker's shape all the same (<c>Args</c> = <c>COMMAND ARG…</c>).
/// </summary>
internal sealed class ServiceSpecFlags
{
    /// <summary>Service modes, as <c>--mode</c> takes them.</summary>
    public static readonly string[] Modes = ["replicated", "global", "replicated-job", "global-job"];

    public Option<string?> Name { get; } = new("--name") { Description = "Service name (unique in the swarm); the swarm picks one when absent" };

    public Option<ulong?> Replicas { get; } = Flags.Integer<ulong>("--replicas", "Number of tasks (replicated mode), or of completions (replicated-job mode)");

    public Option<string?> Mode { get; } = Flags.OneOf("--mode", "mode", "Service mode: replicated (N tasks), global (one per node), replicated-job, global-job (run to completion)", Modes);

    public Option<ulong?> MaxConcurrent { get; } = Flags.Integer<ulong>("--max-concurrent", "Number of job tasks to run concurrently (replicated-job mode; default: --replicas)");

    public Option<string[]> Env { get; } = new("--env", "-e") { Description = "Set environment variables (KEY=value; a bare KEY takes its value from this shell); repeat for more", HelpName = "KEY=value" };

    public Option<string[]> Label { get; } = new("--label", "-l") { Description = "Service labels (key=value); repeat for more", HelpName = "key=value" };

    public Option<string[]> ContainerLabel { get; } = new("--container-label") { Description = "Labels of the service's tasks (key=value); repeat for more", HelpName = "key=value" };

    public Option<string[]> Constraint { get; } = new("--constraint") { Description = "Placement constraints (node.role==worker, node.labels.zone!=a, node.hostname==h1); repeat for more", HelpName = "expression" };

    public Option<string[]> PlacementPref { get; } = new("--placement-pref") { Description = "Placement preferences (spread=node.labels.zone); repeat for more", HelpName = "spread=label" };

    public Option<PublishSpec[]> Publish { get; } = new("--publish", "-p")
    {
        Description = "Publish a port on every node: [published:]target[/protocol], or published=8080,target=80,protocol=udp,mode=host; repeat for more",
        HelpName = "published:target",
        CustomParser = ParsePublish,
    };

    public Option<string?> RestartCondition { get; } = Flags.OneOf("--restart-condition", "restart condition", "Restart when: none, on-failure or any (default any; on-failure for jobs)", RestartConditions.None, RestartConditions.OnFailure, RestartConditions.Any);

    public Option<long?> RestartDelay { get; } = Flags.Duration("--restart-delay", "Delay between restart attempts (ns|us|ms|s|m|h)");

    public Option<ulong?> RestartMaxAttempts { get; } = Flags.Integer<ulong>("--restart-max-attempts", "Maximum number of restarts before giving up");

    public Option<long?> RestartWindow { get; } = Flags.Duration("--restart-window", "Window used to evaluate the restart policy (ns|us|ms|s|m|h)");

    public Option<long?> LimitCpu { get; } = Cpus("--limit-cpu", "Limit CPUs (0.5, 2)");

    public Option<long?> LimitMemory { get; } = Bytes("--limit-memory", "Limit memory (64M, 1.5G)");

    public Option<long?> ReserveCpu { get; } = Cpus("--reserve-cpu", "Reserve CPUs: tasks go only to nodes with this much free (0.5, 2)");

    public Option<long?> ReserveMemory { get; } = Bytes("--reserve-memory", "Reserve memory: tasks go only to nodes with this much free (64M, 1.5G)");

    public Option<string?> Workdir { get; } = new("--workdir", "-w") { Description = "Working directory of the command" };

    public Option<string?> User { get; } = new("--user", "-u") { Description = "Username or UID (format: <name|uid>[:<group|gid>])" };

    public Option<string?> StopSignal { get; } = new("--stop-signal") { Description = "Signal to stop the task's process (default SIGTERM)" };

    public Option<long?> StopGracePeriod { get; } = Flags.Duration("--stop-grace-period", "Time to wait before force killing a task (ns|us|ms|s|m|h)");

    public Option<ulong?> MaxReplicas { get; } = Flags.Integer<ulong>("--max-replicas", "Maximum number of tasks per node (default 0 = unlimited)");

    /// <summary>The <c>--update-*</c>, <c>--rollback-*</c> and health check flags.</summary>
    public ServiceRolloutFlags Rollout { get; } = new();

    public Option<bool> Detach { get; } = new("--detach", "-d") { Description = "Exit immediately instead of waiting for the service to converge" };

    public Option<bool> Quiet { get; } = new("--quiet", "-q") { Description = "Suppress progress output" };

    public Argument<string> Image { get; } = new("IMAGE") { Description = "The image to record for the service (Shoal's process executor runs COMMAND on the host)" };

    public Argument<string[]> Command { get; } = new("COMMAND")
    {
        Description = "The command and its arguments (write -- before it when it has options that `shoal service create` also has)",
        HelpName = "COMMAND [ARG...]",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Adds every flag and argument to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Option[] options =
        [
            Name, Mode, Replicas, MaxConcurrent, Env, Label, ContainerLabel, Constraint, PlacementPref, Publish,
            RestartCondition, RestartDelay, RestartMaxAttempts, RestartWindow, LimitCpu, LimitMemory, ReserveCpu, ReserveMemory,
            Workdir, User, StopSignal, StopGracePeriod, MaxReplicas, .. Rollout.All, Detach, Quiet,
        ];
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.Arguments.Add(Image);
        command.Arguments.Add(Command);
    }

    /// <summary>
    /// The spec the flags describe, as docker sends it: empty maps rather than none, the update and rollback
    /// defaults spelled out (parallelism 1, pause on failure, a 5 s monitor, stop-first), replicas left out when not
    /// given (the swarm's default is 1).
    /// </summary>
    /// <exception cref="CommandException">Flags that contradict each other or the mode.</exception>
    public ServiceSpec ToSpec(ParseResult parse, Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(parse);
        // Unknown tokens are let through for the command's own options; before IMAGE, one is a mistyped flag.
        if (parse.GetRequiredValue(Image).StartsWith('-'))
        {
            throw new CommandException($"unknown flag: {parse.GetRequiredValue(Image)}\nSee 'shoal service create --help'.");
        }

        var mode = parse.GetValue(Mode) ?? "replicated";
        var isJob = mode.EndsWith("-job", StringComparison.Ordinal);
        var replicas = parse.GetValue(Replicas);
        var maxConcurrent = parse.GetValue(MaxConcurrent);
        if (replicas is not null && mode is "global" or "global-job")
        {
            throw new CommandException($"replicas can only be used with replicated or replicated-job mode (the mode is {mode})");
        }

        if (maxConcurrent is not null && mode != "replicated-job")
        {
            throw new CommandException($"max-concurrent can only be used with replicated-job mode (the mode is {mode})");
        }

        if (isJob && ServiceRolloutFlags.AnyGiven(parse, [.. Rollout.UpdateOptions, .. Rollout.RollbackOptions]))
        {
            throw new CommandException("update and rollback flags cannot be used with job modes: a job runs to completion, there is nothing to roll out");
        }

        var container = new ContainerSpec
        {
            Image = parse.GetRequiredValue(Image),
            Labels = KeyValues(parse.GetValue(ContainerLabel)),
            Args = CommandOf(parse) is { Count: > 0 } args ? args : null,
            Env = EnvOf(parse.GetValue(Env), variable),
            Dir = parse.GetValue(Workdir),
            User = parse.GetValue(User),
            StopSignal = parse.GetValue(StopSignal),
            StopGracePeriod = parse.GetValue(StopGracePeriod),
            Healthcheck = Rollout.CreateHealth(parse),
            Init = false,
            DNSConfig = new DNSConfig(),
        };

        var preferences = new List<PlacementPreference>();
        foreach (var text in parse.GetValue(PlacementPref) ?? [])
        {
            if (!ServiceFlagValues.TryParsePlacementPreference(text, out var descriptor, out var error))
            {
                throw new CommandException(error!);
            }

            preferences.Add(new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = descriptor } });
        }

        var constraints = parse.GetValue(Constraint) ?? [];
        var spec = new ServiceSpec
        {
            Name = parse.GetValue(Name),
            Labels = KeyValues(parse.GetValue(Label)),
            TaskTemplate = new TaskSpec
            {
                ContainerSpec = container,
                Resources = new ResourceRequirements
                {
                    Limits = new Limit { NanoCPUs = parse.GetValue(LimitCpu) ?? 0, MemoryBytes = parse.GetValue(LimitMemory) ?? 0 },
                    Reservations = new Resources { NanoCPUs = parse.GetValue(ReserveCpu) ?? 0, MemoryBytes = parse.GetValue(ReserveMemory) ?? 0 },
                },
                RestartPolicy = RestartPolicyOf(parse, isJob),
                Placement = new Placement
                {
                    Constraints = constraints.Length > 0 ? [.. constraints] : null,
                    Preferences = preferences.Count > 0 ? preferences : null,
                    MaxReplicas = parse.GetValue(MaxReplicas) ?? 0,
                },
            },
            Mode = mode switch
            {
                "global" => new ServiceMode { Global = new GlobalService() },
                "replicated-job" => new ServiceMode { ReplicatedJob = new ReplicatedJob { MaxConcurrent = maxConcurrent ?? replicas, TotalCompletions = replicas } },
                "global-job" => new ServiceMode { GlobalJob = new GlobalJob() },
                _ => new ServiceMode { Replicated = new ReplicatedService { Replicas = replicas } },
            },
            UpdateConfig = isJob ? null : Rollout.CreateConfig(parse, rollback: false),
            RollbackConfig = isJob ? null : Rollout.CreateConfig(parse, rollback: true),
            EndpointSpec = new EndpointSpec
            {
                Mode = "vip",
                Ports = parse.GetValue(Publish) is { Length: > 0 } ports
                    ? [.. ports.Select(p => new PortConfig { Protocol = p.Protocol, TargetPort = p.Target, PublishedPort = p.Published, PublishMode = p.Mode })]
                    : null,
            },
        };
        return spec;
    }

    /// <summary>
    /// <c>COMMAND ARG…</c> as typed after the image. System.CommandLine reads flags anywhere on the line, where docker
    /// stops at IMAGE: an option-looking word it does not know (<c>sh -c …</c>) is put back in its place, and one of
    /// <c>create</c>'s own flags after IMAGE is refused rather than silently taken from the command.
    /// </summary>
    /// <exception cref="CommandException">A <c>create</c> flag after IMAGE, outside <c>--</c>.</exception>
    private List<string> CommandOf(ParseResult parse)
    {
        var words = parse.GetValue(Command) ?? [];
        var tokens = parse.Tokens;
        var image = parse.GetRequiredValue(Image);
        var start = -1;
        for (var i = 0; i < tokens.Count && start < 0; i++)
        {
            if (tokens[i].Type == TokenType.Argument && tokens[i].Value == image)
            {
                start = i;
            }
        }

        for (var i = start + 1; i < tokens.Count && tokens[i].Type != TokenType.DoubleDash; i++)
        {
            if (tokens[i].Type == TokenType.Option)
            {
                throw new CommandException(
                    $"flag {tokens[i].Value} comes after IMAGE, so it is ambiguous: put shoal's flags before IMAGE, and write -- before a COMMAND "
                    + "that takes the same flag (shoal service create [OPTIONS] IMAGE -- COMMAND [ARG...])");
            }
        }

        var unmatched = parse.UnmatchedTokens;
        if (unmatched.Count == 0)
        {
            return [.. words];
        }

        // Unmatched tokens are the command's own options: put them back in the order they were typed.
        var known = new HashSet<string>(words.Concat(unmatched), StringComparer.Ordinal);
        var doubleDashSeen = false;
        var command = new List<string>();
        foreach (var token in tokens.Skip(start + 1))
        {
            if (token.Type == TokenType.DoubleDash && !doubleDashSeen)
            {
                doubleDashSeen = true;
                continue;
            }

            if (known.Contains(token.Value))
            {
                command.Add(token.Value);
            }
        }

        return command;
    }

    private RestartPolicy? RestartPolicyOf(ParseResult parse, bool isJob)
    {
        var condition = parse.GetValue(RestartCondition);
        var delay = parse.GetValue(RestartDelay);
        var maxAttempts = parse.GetValue(RestartMaxAttempts);
        var window = parse.GetValue(RestartWindow);
        if (condition is null && delay is null && maxAttempts is null && window is null && !isJob)
        {
            return null;
        }

        return new RestartPolicy
        {
            // A job that restarts on success would never complete.
            Condition = condition ?? (isJob ? RestartConditions.OnFailure : null),
            Delay = delay,
            MaxAttempts = maxAttempts,
            Window = window,
        };
    }

    private static Dictionary<string, string> KeyValues(string[]? texts)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in texts ?? [])
        {
            ServiceFlagValues.AddKeyValue(map, text);
        }

        return map;
    }

    private static List<string>? EnvOf(string[]? texts, Func<string, string?> variable)
    {
        if (texts is not { Length: > 0 })
        {
            return null;
        }

        var env = new List<string>();
        foreach (var text in texts)
        {
            if (!ServiceFlagValues.TryParseEnv(text, variable, out var value, out var error))
            {
                throw new CommandException(error!);
            }

            env.Add(value);
        }

        return env;
    }

    private static PublishSpec[] ParsePublish(ArgumentResult result)
    {
        var ports = new List<PublishSpec>();
        foreach (var token in result.Tokens)
        {
            if (!ServiceFlagValues.TryParsePublish(token.Value, out var parsed, out var error))
            {
                result.AddError($"invalid argument \"{token.Value}\" for \"--publish\" flag: {error}");
                return [];
            }

            ports.AddRange(parsed);
        }

        return [.. ports];
    }

    /// <summary>A <c>--limit-cpu</c>-style option: a decimal number of CPUs, as billionths.</summary>
    internal static Option<long?> Cpus(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "decimal",
        CustomParser = result => Single(result, name, (string text, out long value, out string? error) => ServiceFlagValues.TryParseNanoCpus(text, out value, out error)),
    };

    /// <summary>A <c>--limit-memory</c>-style option: a size with an optional binary unit, as bytes.</summary>
    internal static Option<long?> Bytes(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "bytes",
        CustomParser = result => Single(result, name, (string text, out long value, out string? error) => ServiceFlagValues.TryParseMemoryBytes(text, out value, out error)),
    };

    private delegate bool TryParse(string text, out long value, out string? error);

    private static long? Single(ArgumentResult result, string name, TryParse parse)
    {
        if (result.Tokens.Count == 0)
        {
            return null;
        }

        var text = result.Tokens[^1].Value;
        if (parse(text, out var value, out var error))
        {
            return value;
        }

        result.AddError($"invalid argument \"{text}\" for \"{name}\" flag: {error}");
        return null;
    }
}
