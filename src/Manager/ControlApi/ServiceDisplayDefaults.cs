using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.Api.Defaults;

namespace Shoal.Manager.ControlApi;

/// <summary>
/// <c>GetService(insert_defaults)</c> (`docker service inspect`): a copy of a spec with every unset field that has a
/// default shown at that default (SwarmKit's <c>defaults.InterpolateService</c>, DESIGN §13). Only ever applied to a
/// copy for display: the stored spec stays as the user sent it, since clients round-trip it into their next update.
/// </summary>
internal static class ServiceDisplayDefaults
{
    public static ServiceSpec Apply(ServiceSpec stored)
    {
        var spec = stored.Clone();
        spec.Task ??= new TaskSpec();
        var task = spec.Task;
        if (task.RuntimeCase == TaskSpec.RuntimeOneofCase.Container)
        {
            var container = task.Container;
            container.StopGracePeriod ??= Duration.FromTimeSpan(ServiceDefaults.StopGracePeriod);
            container.DnsConfig ??= new DnsConfig();
        }

        task.Resources ??= new ResourceRequirements();
        task.Placement ??= new Placement();
        if (task.Restart is null)
        {
            task.Restart = ServiceDefaults.NewRestartPolicy();
        }
        else
        {
            if (task.Restart.Condition == RestartCondition.Unspecified)
            {
                task.Restart.Condition = ServiceDefaults.RestartCondition;
            }

            task.Restart.Delay ??= Duration.FromTimeSpan(ServiceDefaults.RestartDelay);
        }

        // Jobs run to completion and are never rolled out: an update config would not be accepted back.
        if (spec.ModeCase is not (ServiceSpec.ModeOneofCase.ReplicatedJob or ServiceSpec.ModeOneofCase.GlobalJob))
        {
            spec.Update = WithDefaults(spec.Update);
            spec.Rollback = WithDefaults(spec.Rollback);
        }

        return spec;
    }

    private static UpdateConfig WithDefaults(UpdateConfig? config)
    {
        if (config is null)
        {
            return ServiceDefaults.NewUpdateConfig();
        }

        if (config.FailureAction == FailureAction.Unspecified)
        {
            config.FailureAction = ServiceDefaults.UpdateFailureAction;
        }

        if (config.Order == UpdateOrder.Unspecified)
        {
            config.Order = ServiceDefaults.UpdateOrder;
        }

        config.Delay ??= Duration.FromTimeSpan(ServiceDefaults.UpdateDelay);
        config.Monitor ??= Duration.FromTimeSpan(ServiceDefaults.UpdateMonitor);
        return config;
    }
}
