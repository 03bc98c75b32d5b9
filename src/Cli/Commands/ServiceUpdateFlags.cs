using System.CommandLine;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// The flags of <c>service update</c> (docker's names and meanings) and the edits they make to the spec read from the
/// service (docker's <c>updateService</c>): only what is given changes, everything else is sent back as it was.
/// </summary>
internal sealed class ServiceUpdateFlags
{
    public Argument<string> Service { get; } = new("SERVICE") { Description = "The service: ID, name or unique ID prefix" };

    public Option<ulong?> Replicas { get; } = Flags.Integer<ulong>("--replicas", "Number of tasks (replicated mode), or of completions (replicated-job mode)");

    public Option<string?> Image { get; } = new("--image") { Description = "Service image tag" };

    public Option<string?> Args { get; } = new("--args") { Description = "Service command args, as one shell-quoted string (\"sleep 100\")", HelpName = "command" };

    public Option<string[]> EnvAdd { get; } = new("--env-add") { Description = "Add or update an environment variable (KEY=value); repeat for more", HelpName = "KEY=value" };

    public Option<string[]> EnvRemove { get; } = new("--env-rm") { Description = "Remove an environment variable (KEY); repeat for more", HelpName = "KEY" };

    public Option<string[]> LabelAdd { get; } = new("--label-add") { Description = "Add or update a service label (key=value); repeat for more", HelpName = "key=value" };

    public Option<string[]> LabelRemove { get; } = new("--label-rm") { Description = "Remove a label by its key; repeat for more", HelpName = "key" };

    public Option<string[]> ConstraintAdd { get; } = new("--constraint-add") { Description = "Add or update a placement constraint (node.role==worker); repeat for more", HelpName = "expression" };

    public Option<string[]> ConstraintRemove { get; } = new("--constraint-rm") { Description = "Remove a placement constraint; repeat for more", HelpName = "expression" };

    public Option<string?> Workdir { get; } = new("--workdir", "-w") { Description = "Working directory of the command" };

    public Option<string?> User { get; } = new("--user", "-u") { Description = "Username or UID (format: <name|uid>[:<group|gid>])" };

    public Option<string?> StopSignal { get; } = new("--stop-signal") { Description = "Signal to stop the task's process" };

    public Option<long?> StopGracePeriod { get; } = Flags.Duration("--stop-grace-period", "Time to wait before force killing a task (ns|us|ms|s|m|h)");

    public Option<string?> RestartCondition { get; } = Flags.OneOf("--restart-condition", "restart condition", "Restart when: none, on-failure or any", RestartConditions.None, RestartConditions.OnFailure, RestartConditions.Any);

    public Option<long?> RestartDelay { get; } = Flags.Duration("--restart-delay", "Delay between restart attempts (ns|us|ms|s|m|h)");

    public Option<ulong?> RestartMaxAttempts { get; } = Flags.Integer<ulong>("--restart-max-attempts", "Maximum number of restarts before giving up");

    public Option<long?> RestartWindow { get; } = Flags.Duration("--restart-window", "Window used to evaluate the restart policy (ns|us|ms|s|m|h)");

    public Option<long?> LimitCpu { get; } = ServiceSpecFlags.Cpus("--limit-cpu", "Limit CPUs (0.5, 2)");

    public Option<long?> LimitMemory { get; } = ServiceSpecFlags.Bytes("--limit-memory", "Limit memory (64M, 1.5G)");

    public Option<long?> ReserveCpu { get; } = ServiceSpecFlags.Cpus("--reserve-cpu", "Reserve CPUs: tasks go only to nodes with this much free (0.5, 2)");

    public Option<long?> ReserveMemory { get; } = ServiceSpecFlags.Bytes("--reserve-memory", "Reserve memory: tasks go only to nodes with this much free (64M, 1.5G)");

    public Option<bool> Force { get; } = new("--force") { Description = "Force update even if no changes require it (the tasks are replaced)" };

    /// <summary>The <c>--update-*</c>, <c>--rollback-*</c> and health check flags.</summary>
    public ServiceRolloutFlags Rollout { get; } = new();

    public Option<bool> Rollback { get; } = new("--rollback") { Description = "Roll back to the previous spec (alone: no other change may be combined with it; same as `shoal service rollback`)" };

    public Option<bool> Detach { get; } = new("--detach", "-d") { Description = "Exit immediately instead of waiting for the service to converge" };

    public Option<bool> Quiet { get; } = new("--quiet", "-q") { Description = "Suppress progress output" };

    /// <summary>The flags that change the spec: none may be combined with <c>--rollback</c>.</summary>
    public Option[] Changes =>
    [
        Replicas, Image, Args, EnvAdd, EnvRemove, LabelAdd, LabelRemove, ConstraintAdd, ConstraintRemove, Workdir, User,
        StopSignal, StopGracePeriod, RestartCondition, RestartDelay, RestartMaxAttempts, RestartWindow,
        LimitCpu, LimitMemory, ReserveCpu, ReserveMemory, .. Rollout.All, Force,
    ];

    /// <summary>Adds every flag and the argument to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Arguments.Add(Service);
        foreach (var option in Changes.Concat([Rollback, Detach, Quiet]))
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Edits <paramref name="spec"/> in place by the given flags.</summary>
    /// <exception cref="CommandException">A change the service's mode does not allow, contradicting flags, or a malformed value.</exception>
    public void Apply(ServiceSpec spec, ParseResult parse, Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parse);
        ServiceUpdate.Apply(spec, new ServiceUpdate(
            Replicas: parse.GetValue(Replicas),
            Image: parse.GetValue(Image),
            Args: parse.GetValue(Args),
            EnvAdd: parse.GetValue(EnvAdd) ?? [],
            EnvRemove: parse.GetValue(EnvRemove) ?? [],
            LabelAdd: parse.GetValue(LabelAdd) ?? [],
            LabelRemove: parse.GetValue(LabelRemove) ?? [],
            ConstraintAdd: parse.GetValue(ConstraintAdd) ?? [],
            ConstraintRemove: parse.GetValue(ConstraintRemove) ?? [],
            Force: parse.GetValue(Force)), variable);

        var template = spec.TaskTemplate;
        var container = template.ContainerSpec ??= new ContainerSpec();
        if (Given(parse, Workdir))
        {
            container.Dir = parse.GetValue(Workdir);
        }

        if (Given(parse, User))
        {
            container.User = parse.GetValue(User);
        }

        if (Given(parse, StopSignal))
        {
            container.StopSignal = parse.GetValue(StopSignal);
        }

        if (parse.GetValue(StopGracePeriod) is { } grace)
        {
            container.StopGracePeriod = grace;
        }

        if (ServiceRolloutFlags.AnyGiven(parse, [RestartCondition, RestartDelay, RestartMaxAttempts, RestartWindow]))
        {
            // docker's defaultRestartPolicy: swarm's defaults when the service has no policy yet.
            var restart = template.RestartPolicy ??= new RestartPolicy
            {
                Condition = RestartConditions.Any,
                Delay = ServiceRolloutFlags.DefaultRestartDelay,
                MaxAttempts = 0,
            };
            restart.Condition = parse.GetValue(RestartCondition) ?? restart.Condition;
            restart.Delay = parse.GetValue(RestartDelay) ?? restart.Delay;
            restart.MaxAttempts = parse.GetValue(RestartMaxAttempts) ?? restart.MaxAttempts;
            restart.Window = parse.GetValue(RestartWindow) ?? restart.Window;
        }

        if (ServiceRolloutFlags.AnyGiven(parse, [LimitCpu, LimitMemory]))
        {
            var limits = (template.Resources ??= new ResourceRequirements()).Limits ??= new Limit();
            limits.NanoCPUs = parse.GetValue(LimitCpu) ?? limits.NanoCPUs;
            limits.MemoryBytes = parse.GetValue(LimitMemory) ?? limits.MemoryBytes;
        }

        if (ServiceRolloutFlags.AnyGiven(parse, [ReserveCpu, ReserveMemory]))
        {
            var reservations = (template.Resources ??= new ResourceRequirements()).Reservations ??= new Resources();
            reservations.NanoCPUs = parse.GetValue(ReserveCpu) ?? reservations.NanoCPUs;
            reservations.MemoryBytes = parse.GetValue(ReserveMemory) ?? reservations.MemoryBytes;
        }

        Rollout.ApplyTo(spec, parse);
    }

    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
