using System.CommandLine;
using System.Text.Json;
using Shoal.Cli.Commands;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Tests;

/// <summary>
/// The update, rollback and health check flags of <c>service create</c> and <c>service update</c>: the JSON docker
/// sends for them (durations in nanoseconds, the ratio as a float), update editing only what is given, and values
/// refused naming their flag.
/// </summary>
public sealed class ServiceRolloutFlagsTests
{
    private const long Second = 1_000_000_000;

    [Fact]
    public void Create_EveryUpdateAndRollbackFlag_MakesDockersConfigs()
    {
        var spec = Create(
            "--update-parallelism", "2", "--update-delay", "10s", "--update-failure-action", "rollback", "--update-monitor", "1m30s",
            "--update-max-failure-ratio", "0.2", "--update-order", "start-first",
            "--rollback-parallelism", "0", "--rollback-delay", "500ms", "--rollback-failure-action", "continue", "--rollback-monitor", "2s",
            "--rollback-max-failure-ratio", "1", "--rollback-order", "START-FIRST", "img");

        using var document = JsonDocument.Parse(JsonSerializer.Serialize(spec, DockerJsonContext.Default.ServiceSpec));
        Assert.Equal(
            """{"Parallelism":2,"Delay":10000000000,"FailureAction":"rollback","Monitor":90000000000,"MaxFailureRatio":0.2,"Order":"start-first"}""",
            document.RootElement.GetProperty("UpdateConfig").GetRawText());
        Assert.Equal(
            """{"Parallelism":0,"Delay":500000000,"FailureAction":"continue","Monitor":2000000000,"MaxFailureRatio":1,"Order":"start-first"}""",
            document.RootElement.GetProperty("RollbackConfig").GetRawText());
    }

    [Fact]
    public void Create_WithoutRolloutFlags_SpellsOutSwarmsDefaults_AndHasNoHealthcheck()
    {
        var spec = Create("img");

        const string Defaults = """{"Parallelism":1,"Delay":0,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"}""";
        Assert.Equal(Defaults, JsonSerializer.Serialize(spec.UpdateConfig!, DockerJsonContext.Default.UpdateConfig));
        Assert.Equal(Defaults, JsonSerializer.Serialize(spec.RollbackConfig!, DockerJsonContext.Default.UpdateConfig));
        Assert.Null(spec.TaskTemplate.ContainerSpec!.Healthcheck);
    }

    [Fact]
    public void Create_HealthFlags_MakeACmdShellTest_WithDurationsInNanoseconds()
    {
        var spec = Create("--health-cmd", "curl -f http://localhost/ || exit 1", "--health-interval", "10s", "--health-timeout", "2s",
            "--health-retries", "3", "--health-start-period", "30s", "--health-start-interval", "1s", "img");

        Assert.Equal(
            """{"Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],"Interval":10000000000,"Timeout":2000000000,"StartPeriod":30000000000,"StartInterval":1000000000,"Retries":3}""",
            JsonSerializer.Serialize(spec.TaskTemplate.ContainerSpec!.Healthcheck!, DockerJsonContext.Default.HealthConfig));
    }

    [Fact]
    public void Create_OnlySomeHealthSettings_LeavesTheOthersOut()
    {
        var spec = Create("--health-interval", "5s", "img");

        Assert.Equal("""{"Interval":5000000000}""", JsonSerializer.Serialize(spec.TaskTemplate.ContainerSpec!.Healthcheck!, DockerJsonContext.Default.HealthConfig));
    }

    [Fact]
    public void Create_NoHealthcheck_IsTestNone_AndConflictsWithHealthSettings()
    {
        var spec = Create("--no-healthcheck", "img");
        var error = Assert.Throws<CommandException>(() => Create("--no-healthcheck", "--health-cmd", "true", "img"));

        Assert.Equal(["NONE"], spec.TaskTemplate.ContainerSpec!.Healthcheck!.Test!);
        Assert.StartsWith("--no-healthcheck conflicts with --health-* options", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_RollbackFlagsOnAJob_AreRefused()
    {
        var error = Assert.Throws<CommandException>(() => Create("--mode", "replicated-job", "--rollback-parallelism", "2", "img"));

        Assert.StartsWith("update and rollback flags cannot be used with job modes", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--update-max-failure-ratio", "1.5", "the ratio must be between 0 and 1")]
    [InlineData("--rollback-max-failure-ratio", "-0.1", "the ratio must be between 0 and 1")]
    [InlineData("--update-max-failure-ratio", "half", "not a number")]
    [InlineData("--update-delay", "-1s", "duration cannot be negative")]
    [InlineData("--rollback-monitor", "-5s", "duration cannot be negative")]
    [InlineData("--update-monitor", "soon", "invalid duration")]
    [InlineData("--health-interval", "-10s", "duration cannot be negative")]
    [InlineData("--health-timeout", "500us", "at least 1ms")]
    [InlineData("--health-start-period", "-1s", "duration cannot be negative")]
    [InlineData("--health-retries", "-1", "retries cannot be negative")]
    [InlineData("--update-parallelism", "-1", "not a whole number")]
    public void BadValues_AreRefusedWhileParsing_NamingTheFlag(string flag, string value, string reason)
    {
        foreach (var parse in new[] { CreateParse(flag, value, "img"), UpdateParse(flag, value, "web") })
        {
            var error = Assert.Single(parse.Errors).Message;
            Assert.StartsWith($"invalid argument \"{value}\" for \"{flag}\" flag: ", error, StringComparison.Ordinal);
            Assert.Contains(reason, error, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--update-failure-action", "explode", "invalid update failure action \"explode\", only pause, continue and rollback are supported")]
    [InlineData("--rollback-failure-action", "rollback", "invalid rollback failure action \"rollback\", only pause and continue are supported")]
    [InlineData("--update-order", "random", "invalid update order \"random\", only start-first and stop-first are supported")]
    public void UnknownChoices_AreRefused_ListingTheChoices(string flag, string value, string message) =>
        Assert.Equal(message, Assert.Single(UpdateParse(flag, value, "web").Errors).Message);

    [Fact]
    public void Update_OneUpdateFlag_ChangesOnlyThatField_AndLeavesTheRestAlone()
    {
        var spec = Existing();
        var before = JsonSerializer.Serialize(spec, DockerJsonContext.Default.ServiceSpec);

        Update(spec, "--update-delay", "3s");

        Assert.Equal(3 * Second, spec.UpdateConfig!.Delay);
        spec.UpdateConfig.Delay = 10 * Second;
        Assert.Equal(before, JsonSerializer.Serialize(spec, DockerJsonContext.Default.ServiceSpec));
    }

    [Fact]
    public void Update_AConfigTheServiceLacks_StartsFromSwarmsDefaults()
    {
        var spec = new ServiceSpec { TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Image = "img" } } };

        Update(spec, "--update-order", "start-first", "--rollback-max-failure-ratio", "0.5");

        Assert.Equal(
            """{"Parallelism":1,"Delay":0,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"start-first"}""",
            JsonSerializer.Serialize(spec.UpdateConfig!, DockerJsonContext.Default.UpdateConfig));
        Assert.Equal(
            """{"Parallelism":1,"Delay":0,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0.5,"Order":"stop-first"}""",
            JsonSerializer.Serialize(spec.RollbackConfig!, DockerJsonContext.Default.UpdateConfig));
        Assert.Null(spec.TaskTemplate.ContainerSpec!.Healthcheck);
    }

    [Fact]
    public void Update_EveryRolloutFlag_SetsItsField()
    {
        var spec = Existing();

        Update(spec, "--update-parallelism", "0", "--update-failure-action", "continue", "--update-monitor", "1s", "--update-max-failure-ratio", "0.25",
            "--update-order", "stop-first", "--rollback-parallelism", "3", "--rollback-delay", "1s", "--rollback-failure-action", "continue",
            "--rollback-monitor", "2s", "--rollback-max-failure-ratio", "0.75", "--rollback-order", "start-first", "web");

        var update = spec.UpdateConfig!;
        var rollback = spec.RollbackConfig!;
        Assert.Equal((0UL, 10 * Second, "continue", Second, 0.25f, "stop-first"), (update.Parallelism, update.Delay, update.FailureAction, update.Monitor, update.MaxFailureRatio, update.Order));
        Assert.Equal((3UL, Second, "continue", 2 * Second, 0.75f, "start-first"), (rollback.Parallelism, rollback.Delay, rollback.FailureAction, rollback.Monitor, rollback.MaxFailureRatio, rollback.Order));
    }

    [Fact]
    public void Update_HealthFlags_EditTheExistingCheck()
    {
        var spec = Existing();

        Update(spec, "--health-retries", "5", "--health-start-period", "1m");

        var health = spec.TaskTemplate.ContainerSpec!.Healthcheck!;
        Assert.Equal(["CMD-SHELL", "check"], health.Test!);
        Assert.Equal((10 * Second, 5, 60 * Second, (long?)null), (health.Interval, health.Retries, health.StartPeriod, health.Timeout));

        Update(spec, "--health-cmd", "");
        Assert.Null(spec.TaskTemplate.ContainerSpec.Healthcheck!.Test);
    }

    [Fact]
    public void Update_HealthSettingsOnADisabledCheck_DropTheNoneTest()
    {
        var spec = new ServiceSpec { TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Healthcheck = new HealthConfig { Test = ["NONE"] } } } };

        Update(spec, "--health-timeout", "3s");

        var health = spec.TaskTemplate.ContainerSpec!.Healthcheck!;
        Assert.Null(health.Test);
        Assert.Equal(3 * Second, health.Timeout);
    }

    [Fact]
    public void Update_NoHealthcheck_ReplacesTheCheck_AndConflictsWithHealthSettings()
    {
        var spec = Existing();

        Update(spec, "--no-healthcheck");
        var error = Assert.Throws<CommandException>(() => Update(Existing(), "--no-healthcheck", "--health-retries", "2"));

        Assert.Equal("""{"Test":["NONE"]}""", JsonSerializer.Serialize(spec.TaskTemplate.ContainerSpec!.Healthcheck!, DockerJsonContext.Default.HealthConfig));
        Assert.StartsWith("--no-healthcheck conflicts with --health-* options", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Update_RestartFlags_WithoutAPolicy_StartFromSwarmsDefaults_AndOtherwiseEditIt()
    {
        var none = new ServiceSpec();
        var existing = Existing();

        Update(none, "--restart-max-attempts", "3");
        Update(existing, "--restart-condition", "none");

        var fromDefaults = none.TaskTemplate.RestartPolicy!;
        Assert.Equal(("any", (long?)(5 * Second), (ulong?)3, (long?)null), (fromDefaults.Condition, fromDefaults.Delay, fromDefaults.MaxAttempts, fromDefaults.Window));
        var edited = existing.TaskTemplate.RestartPolicy!;
        Assert.Equal(("none", (long?)Second, (ulong?)7), (edited.Condition, edited.Delay, edited.MaxAttempts));
    }

    [Fact]
    public void Update_ContainerAndResourceFlags_SetTheirFields()
    {
        var spec = Existing();

        Update(spec, "--workdir", "/srv", "--user", "app:app", "--stop-signal", "SIGINT", "--stop-grace-period", "30s",
            "--limit-cpu", "1.5", "--reserve-memory", "64M", "--replicas", "4", "--image", "img:2");

        var container = spec.TaskTemplate.ContainerSpec!;
        Assert.Equal(("/srv", "app:app", "SIGINT", (long?)(30 * Second), "img:2"), (container.Dir, container.User, container.StopSignal, container.StopGracePeriod, container.Image));
        var resources = spec.TaskTemplate.Resources!;
        Assert.Equal((1_500_000_000L, 256L << 20), (resources.Limits!.NanoCPUs, resources.Limits.MemoryBytes));
        Assert.Equal((0L, 64L << 20), (resources.Reservations!.NanoCPUs, resources.Reservations.MemoryBytes));
        Assert.Equal(4UL, spec.Mode.Replicated!.Replicas);
    }

    /// <summary>A service as read back from the daemon, every rollout setting away from its default.</summary>
    private static ServiceSpec Existing() => new()
    {
        Name = "web",
        TaskTemplate = new TaskSpec
        {
            ContainerSpec = new ContainerSpec
            {
                Image = "img:1",
                Healthcheck = new HealthConfig { Test = ["CMD-SHELL", "check"], Interval = 10 * Second, Retries = 3 },
            },
            RestartPolicy = new RestartPolicy { Condition = "on-failure", Delay = Second, MaxAttempts = 7 },
            Resources = new ResourceRequirements { Limits = new Limit { MemoryBytes = 256L << 20 } },
        },
        Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = 2 } },
        UpdateConfig = new UpdateConfig { Parallelism = 2, Delay = 10 * Second, FailureAction = "rollback", Monitor = 20 * Second, MaxFailureRatio = 0.5f, Order = "start-first" },
    };

    private static ServiceSpec Create(params string[] args)
    {
        var flags = new ServiceSpecFlags();
        var command = new Command("create") { TreatUnmatchedTokensAsErrors = false };
        flags.AddTo(command);
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        return flags.ToSpec(parse, _ => null);
    }

    private static ParseResult CreateParse(params string[] args)
    {
        var command = new Command("create") { TreatUnmatchedTokensAsErrors = false };
        new ServiceSpecFlags().AddTo(command);
        return command.Parse(args);
    }

    private static ParseResult UpdateParse(params string[] args)
    {
        var command = new Command("update");
        new ServiceUpdateFlags().AddTo(command);
        return command.Parse(args);
    }

    private static void Update(ServiceSpec spec, params string[] args)
    {
        var flags = new ServiceUpdateFlags();
        var command = new Command("update");
        flags.AddTo(command);
        var parse = command.Parse(args[^1] == "web" ? args : [.. args, "web"]);
        Assert.Empty(parse.Errors);
        flags.Apply(spec, parse, _ => null);
    }
}
