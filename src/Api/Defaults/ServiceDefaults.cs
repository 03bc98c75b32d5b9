using Google.Protobuf.WellKnownTypes;

namespace Shoal.Api.Defaults;

/// <summary>
/// What an unset field of a service spec means: Docker's documented defaults, which SwarmKit fills in
/// (api/defaults). Restart attempts default to unlimited, which is max_attempts left unset. Factories return new
/// messages because protobuf messages are mutable.
/// </summary>
public static class ServiceDefaults
{
    /// <summary>Tasks updated at once.</summary>
    public const long UpdateParallelism = 1;

    public const FailureAction UpdateFailureAction = FailureAction.Pause;

    public const UpdateOrder UpdateOrder = Shoal.Api.UpdateOrder.StopFirst;

    /// <summary>Fraction of failed tasks tolerated before the failure action applies.</summary>
    public const float UpdateMaxFailureRatio = 0f;

    public const RestartCondition RestartCondition = Shoal.Api.RestartCondition.Any;

    /// <summary>Time between updating one batch of tasks and the next.</summary>
    public static readonly TimeSpan UpdateDelay = TimeSpan.Zero;

    /// <summary>How long each updated task is watched for failure.</summary>
    public static readonly TimeSpan UpdateMonitor = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(5);

    /// <summary>Window over which restart attempts are counted; zero means unbounded.</summary>
    public static readonly TimeSpan RestartWindow = TimeSpan.Zero;

    /// <summary>Time between the stop signal and SIGKILL.</summary>
    public static readonly TimeSpan StopGracePeriod = TimeSpan.FromSeconds(10);

    /// <summary>A fully defaulted update (or rollback) config.</summary>
    public static UpdateConfig NewUpdateConfig() => new()
    {
        Parallelism = UpdateParallelism,
        Delay = Duration.FromTimeSpan(UpdateDelay),
        FailureAction = UpdateFailureAction,
        Monitor = Duration.FromTimeSpan(UpdateMonitor),
        MaxFailureRatio = UpdateMaxFailureRatio,
        Order = UpdateOrder,
    };

    /// <summary>A fully defaulted restart policy (max_attempts unset: unlimited).</summary>
    public static RestartPolicy NewRestartPolicy() => new()
    {
        Condition = RestartCondition,
        Delay = Duration.FromTimeSpan(RestartDelay),
        Window = Duration.FromTimeSpan(RestartWindow),
    };
}
